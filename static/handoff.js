// The web app's handoff (docs/client.md, "Sending users to the chatd page"):
// the app links to https://chat.example.com/#app_token=<JWT>. A fragment never
// reaches a server or its logs (unlike a query string); the page takes the
// token out of the address bar at once, so it is neither bookmarked nor
// shared nor kept in the history, and signs in with it once: chatd's own
// resume token replaces it.

const PARAM = 'app_token';

/** The app token in the page's fragment, removed from the address bar; null if there is none. */
export function takeAppToken(loc = window.location, hist = window.history) {
  const params = new URLSearchParams(loc.hash.replace(/^#/, ''));
  const token = params.get(PARAM);
  if (token === null) return null;
  params.delete(PARAM);
  const rest = params.toString();
  hist.replaceState(hist.state, '', loc.pathname + loc.search + (rest ? '#' + rest : ''));
  return token || null;
}
