// A notice across the top of the page for what stops the chat until the user
// acts: a refused sign-in link from the web app, a kick or a ban by the server.

import { h, setChildren } from './dom.js';

// What a refused app token means to the person holding it (codes: docs/protocol.md, "identify").
const APP_TOKEN_PROBLEMS = {
  token_expired: 'The sign-in link has expired.',
  bad_signature: 'The sign-in link is not signed by the site that sent you here.',
  missing_claim: 'The sign-in link lacks something it needs.',
  bad_claim: 'The sign-in link is not meant for this chat, or not valid yet.',
  bad_app_token: 'The sign-in link cannot be read, or this chat does not accept sign-ins from a site.',
};
const GO_BACK = 'Go back to the site that sent you here and open the chat from there again.';

/** The text for an `identify` refused because of its app token (an `error` frame). */
export function appTokenProblem(err) {
  const what = APP_TOKEN_PROBLEMS[err.code] || 'The sign-in link did not work.';
  return `${what} ${GO_BACK} (${err.code}: ${err.message || ''})`;
}

/** The text for a kick; reason: the server's, perhaps empty. */
export function kickedText(reason) {
  const why = reason ? `: ${reason}` : '.';
  return `You were disconnected by the server${why} The page will not reconnect by itself.`;
}

/** The text for a ban (docs/protocol.md, "Banned"); until: ms since the epoch, or null for good. */
export function bannedText({ reason, until }) {
  const why = reason ? ` Reason: ${reason}.` : '';
  const when = until === null
    ? 'for good'
    : `until ${new Date(until).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })}`;
  return `You are banned from this chat ${when}.${why} The page will not reconnect.`;
}

export class Notice {
  /** els: {box, text, action} */
  constructor(els) {
    this.els = els;
    this.act = null;
    els.action.addEventListener('click', () => {
      const act = this.act;
      this.hide();
      if (act) act();
    });
  }

  /** Show text, with a button {label, act()} or none. */
  show(text, button = null) {
    const { box, text: p, action } = this.els;
    setChildren(p, h('span', {}, text));
    this.act = button ? button.act : null;
    action.textContent = button ? button.label : '';
    action.hidden = !button;
    box.hidden = false;
  }

  hide() {
    this.act = null;
    this.els.box.hidden = true;
  }
}
