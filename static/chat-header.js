// The head of the conversation pane: what is on screen, its topic, and the
// buttons that act on it.

import { bdi, h, setChildren } from './dom.js';
import { isolate, userTag } from './text.js';
import { lock } from './marks.js';
import { t } from './i18n.js';

/**
 * What a view is called, as nodes: "#room" or "name #tag" ("#tag" alone while the name is not known;
 * the page's words for a deleted account in place of its name), the user's string isolated.
 */
export function viewLabel(view) {
  if (view.kind === 'room') return h('span', {}, '#', bdi(view.name), lock(view.membersOnly));
  const tag = h('span', { class: 'user-tag' }, userTag(view.peer.id));
  if (view.peer.deleted) return h('span', {}, view.title(), ' ', tag);
  return view.peer.unnamed ? h('span', {}, tag) : h('span', {}, bdi(view.name), ' ', tag);
}

export class ChatHeader {
  /** els: {title, topic, leave, me: the name menu's button}; actions: {leave(view)} */
  constructor(els, store, actions) {
    this.els = els;
    this.store = store;
    els.leave.addEventListener('click', () => {
      const view = store.currentView();
      if (view && view.kind === 'room') actions.leave(view);
    });
    for (const type of ['current', 'views']) store.on(type, () => this.render());
    store.on('me', () => this.renderMe());
    this.render();
    this.renderMe();
  }

  render() {
    const { title, topic, leave } = this.els;
    const view = this.store.currentView();
    setChildren(title, view ? viewLabel(view) : 'chatd');
    let about = '';
    if (view && view.kind === 'room') about = view.topic;
    else if (view) about = t('chat.private_conversation');
    topic.textContent = about;
    topic.hidden = !about;
    leave.hidden = !(view && view.kind === 'room');
    if (view) leave.setAttribute('aria-label', t('chat.leave_room', { room: view.title() }));
    document.title = this.documentTitle(view);
  }

  documentTitle(view) {
    const unread = this.store.totalUnread();
    return (unread ? `(${unread}) ` : '') + (view ? view.title() + ' · ' : '') + 'chatd';
  }

  renderMe() {
    const { me } = this.els;
    const user = this.store.me;
    me.hidden = !user;
    setChildren(me, user ? bdi(user.name) : null);
    me.title = user ? t('me.title', { name: isolate(user.name), tag: userTag(user.id) }) : '';
  }
}
