// A notice across the top of the page for what stops the chat until the user
// acts: a refused sign-in link from the web app, a kick or a ban by the server.

import { h, setChildren } from './dom.js';
import { formatDateTime, has, t } from './i18n.js';
import { builtText } from './refusals.js';
import { isolate } from './text.js';

const KICK_CAUSES = ['moderator', 'app', 'account_deleted']; // a kicked frame's causes the page words itself

/**
 * The text for an `identify` refused because of its app token (an `error` frame): what the code
 * means to the person holding the link (`error.<code>`, docs/protocol.md "identify"), what to do,
 * and the server's own words for whoever helps them.
 */
export function appTokenProblem(err) {
  const what = has(`error.${err.code}`) ? t(`error.${err.code}`) : t('notice.app_token_failed');
  // The detail in the page's language when the refusal carries it as fields, else the server's words.
  return t('notice.app_token', { what, code: err.code, message: builtText(err) ?? err.message ?? '' });
}

/**
 * The text for a kick (docs/protocol.md, "kicked"): who did it (`cause`: moderator, app,
 * account_deleted; null from a server that does not say), in the page's words, and the reason
 * as the kicker gave it (user text, isolated), unless it is the server's own words (`default`).
 */
export function kickedText({ reason, cause, default: isDefault }) {
  const who = KICK_CAUSES.includes(cause) ? `notice.kicked_${cause}` : 'notice.kicked';
  return reason && !isDefault ? t(`${who}_reason`, { reason: isolate(reason) }) : t(who);
}

/** The text for a ban (docs/protocol.md, "Banned"); until: ms since the epoch, or null for good. */
export function bannedText({ reason, until }) {
  const why = reason ? t('notice.reason', { reason: isolate(reason) }) : '';
  return until === null ? t('notice.banned_for_good', { why }) : t('notice.banned_until', { when: formatDateTime(until), why });
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
