// Who is online in the room on screen; clicking someone opens a private
// conversation with them. A moderator also gets a menu on each member whose rank
// is below theirs: mute, unmute, kick, ban (moderation.js). While the page is disconnected, who
// was online then, greyed, under a heading that does not call them online.

import { bdi, h, redraw, setChildren, srOnly, syncList } from './dom.js';
import { isolate, userTag } from './text.js';
import { avatar, botBadge } from './marks.js';
import { fill, formatNumber, t } from './i18n.js';
import { offeredActions } from './moderation.js';

const talkTitle = (u) => t('members.talk_title', { name: isolate(u.name), tag: userTag(u.id) });

export class MembersView {
  /** els: {list, heading, note}; actions: {openConversation(user), moderator (moderation.js)} */
  constructor(els, store, actions) {
    this.els = els;
    this.store = store;
    this.actions = actions;
    this.items = new Map();
    this.shapes = new WeakMap(); // li → what it shows (render's shape): unchanged, it is left alone
    store.on('current', () => this.render());
    store.on('me', () => this.render());
    store.on('connection', () => this.render());
    store.on('members', ({ key }) => key === store.current && this.render());
  }

  render() {
    const { store, els } = this;
    const view = store.currentView();
    const room = view && view.kind === 'room' ? view : null;
    const members = room ? [...room.members.values()] : [];
    members.sort((a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: 'base' }));
    const meId = store.me ? store.me.id : null;
    const meRank = store.me ? store.me.rank : null;
    // Keyed by id: a new name, avatar or rank redraws the member's entry in place (redraw keeps an open
    // menu open and the focus on its control); the shape is all the entry shows.
    syncList(els.list, this.items, members, (u) => u.id, () => h('li', { class: 'member' }), (li, u) => {
      const isMe = u.id === meId;
      const shape = [isMe, u.name, u.avatar, u.bot, u.rank, meRank, room.name].join('\n');
      if (this.shapes.get(li) === shape) return;
      this.shapes.set(li, shape);
      if (isMe) li.dataset.testid = 'member-' + u.name; // the others': their button's
      else delete li.dataset.testid;
      redraw(li, () => {
        setChildren(li, this.parts(u, isMe, room));
        return li;
      });
    });
    const unknown = Boolean(room) && !store.connected;
    if (unknown) els.list.dataset.state = 'unknown';
    else delete els.list.dataset.state;
    const heading = unknown ? t('members.when_connected') : t('members.online_in', { count: formatNumber(members.length) });
    if (room) setChildren(els.heading, ...fill(heading, { room: bdi(room.name) }));
    else els.heading.textContent = t('members.online');
    let note = [];
    if (view && view.kind === 'dm') note = fill(t('members.dm_note'), { name: bdi(view.name) });
    else if (unknown) note = [t('members.reconnecting')];
    else if (room && !room.joined) note = [t('members.not_connected')];
    setChildren(els.note, note);
    els.note.hidden = !note.length;
  }

  // The name ellipsized, then the user's tag (telling apart two users who had
  // the same name), which always shows. → the children of the member's <li>.
  parts(user, isMe, room) {
    const name = bdi(user.name, { class: 'member-name' });
    const tag = h('span', { class: 'member-tag', title: t('members.user_id', { id: user.id }) }, userTag(user.id));
    const face = avatar(user);
    const badge = botBadge(user);
    if (isMe) return [h('span', { class: 'member-self' }, face, name, tag, badge, ' ', t('members.you'))];
    const button = h('button', {
      type: 'button',
      class: 'member-button',
      'data-testid': 'member-' + user.name,
      'data-focus': 'talk',
      title: talkTitle(user),
      onclick: () => this.actions.openConversation(user),
    }, face, name, tag, badge, srOnly(t('members.talk_sr')));
    const actions = offeredActions(this.store.me, user);
    return [button, actions.length ? this.menu(user, room.name, actions) : null];
  }

  // A disclosure (keyboard and screen readers know it: Enter or Space opens it, Tab walks its buttons).
  menu(user, room, actions) {
    const m = this.actions.moderator;
    const item = (label, act, testid) => h('li', {}, h('button', {
      type: 'button', 'data-testid': testid, 'data-focus': testid, onclick: (e) => {
        e.target.closest('details').open = false;
        act();
      },
    }, label));
    const label = t('members.moderate', { name: isolate(user.name) });
    return h('details', { class: 'mod-menu', 'data-testid': 'moderate-' + user.name },
      h('summary', { 'aria-label': label, title: label, 'data-focus': 'moderate' }, '⋯'),
      h('ul', { 'aria-label': label },
        ...actions.map((action) => item(t(`moderation.${action}_menu`), () => m.open(action, user, room), action))));
  }
}
