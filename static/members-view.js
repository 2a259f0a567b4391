// Who is online in the room on screen; clicking someone opens a private
// conversation with them. A moderator also gets a menu on each member whose rank
// is below theirs: mute, unmute, kick, ban (moderation.js). While the page is disconnected, who
// was online then, greyed, under a heading that does not call them online.

import { bdi, h, setChildren, srOnly, syncList } from './dom.js';
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
    syncList(els.list, this.items, members, (u) => [u.id, u.id === meId, u.avatar, u.bot, u.rank, meRank].join(':'),
      (u) => this.build(u, u.id === meId, room),
      (li, u) => {
        const button = li.querySelector('button');
        (button || li).dataset.testid = 'member-' + u.name;
        if (button) button.title = talkTitle(u);
        li.querySelector('.member-name').textContent = u.name;
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
  // the same name), which always shows.
  build(user, isMe, room) {
    const name = bdi(user.name, { class: 'member-name' });
    const tag = h('span', { class: 'member-tag', title: t('members.user_id', { id: user.id }) }, userTag(user.id));
    const face = avatar(user);
    const badge = botBadge(user);
    if (isMe) return h('li', { class: 'member' }, h('span', { class: 'member-self' }, face, name, tag, badge, ' ', t('members.you')));
    const button = h('button', {
      type: 'button',
      class: 'member-button',
      title: talkTitle(user),
      onclick: () => this.actions.openConversation(user),
    }, face, name, tag, badge, srOnly(t('members.talk_sr')));
    const actions = offeredActions(this.store.me, user);
    return h('li', { class: 'member' }, button, actions.length ? this.menu(user, room.name, actions) : null);
  }

  // A disclosure (keyboard and screen readers know it: Enter or Space opens it, Tab walks its buttons).
  menu(user, room, actions) {
    const m = this.actions.moderator;
    const item = (label, act, testid) => h('li', {}, h('button', {
      type: 'button', 'data-testid': testid, onclick: (e) => {
        e.target.closest('details').open = false;
        act();
      },
    }, label));
    const label = t('members.moderate', { name: isolate(user.name) });
    return h('details', { class: 'mod-menu', 'data-testid': 'moderate-' + user.name },
      h('summary', { 'aria-label': label, title: label }, '⋯'),
      h('ul', { 'aria-label': label },
        ...actions.map((action) => item(t(`moderation.${action}_menu`), () => m.open(action, user, room), action))));
  }
}
