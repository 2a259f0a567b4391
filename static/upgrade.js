// After chatd is upgraded, an open tab would go on running the modules it
// loaded before. So after each reconnect the page asks for itself again (a
// 304 when nothing changed: it is served no-cache with an ETag) and, if that
// names another static version than the one this module came from, reloads.
// A reload loses nothing: the outbox, rooms and view are kept (persist.js),
// and the composer's draft is kept here, in this tab's sessionStorage.

const OWN = /\/static\/([0-9a-f]{16})\/[^/]*$/; // this module's URL: static/<version>/upgrade.js
const NAMED = /\ssrc="static\/([0-9a-f]{16})\/app\.js"/; // the page's reference to its entry module
const DRAFT_KEY = 'chatd.draft';

/** The static version in a module URL; null when loaded unversioned (nothing to compare). */
export function versionOf(moduleUrl) {
  const m = new URL(moduleUrl).pathname.match(OWN);
  return m ? m[1] : null;
}

/** The version of the page the server serves now; null if it cannot tell. */
async function servedVersion() {
  try {
    const response = await fetch('./', { cache: 'no-cache' });
    if (!response.ok) return null;
    const m = (await response.text()).match(NAMED);
    return m ? m[1] : null;
  } catch {
    return null; // offline again: the next reconnect asks again
  }
}

function draftStore() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

/** Reload into the new version when the server's changes; textarea: the composer (its draft survives). */
export function followUpgrades(conn, textarea) {
  const storage = draftStore();
  const draft = storage && storage.getItem(DRAFT_KEY);
  if (draft !== null && draft !== undefined) {
    storage.removeItem(DRAFT_KEY);
    textarea.value = draft;
    textarea.dispatchEvent(new Event('input')); // the composer's counter and height follow
  }
  const mine = versionOf(import.meta.url);
  if (!mine) return;
  let dropped = false;
  conn.on('close', () => { dropped = true; });
  conn.on('open', async () => {
    if (!dropped) return; // the first connection of this page: it is as new as it gets
    dropped = false;
    const served = await servedVersion();
    if (!served || served === mine) return;
    if (storage && textarea.value) storage.setItem(DRAFT_KEY, textarea.value);
    window.location.reload();
  });
}
