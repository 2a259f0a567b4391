// Who is online in the room on screen; clicking someone opens a private
// conversation with them.

import { h, srOnly, syncList } from './dom.js';

export class MembersView {
  /** els: {list, heading, note}; actions: {openConversation(user)} */
  constructor(els, store, actions) {
    this.els = els;
    this.store = store;
    this.actions = actions;
    this.items = new Map();
    store.on('current', () => this.render());
    store.on('me', () => this.render());
    store.on('members', ({ key }) => key === store.current && this.render());
  }

  render() {
    const { store, els } = this;
    const view = store.currentView();
    const room = view && view.kind === 'room' ? view : null;
    const members = room ? [...room.members.values()] : [];
    members.sort((a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: 'base' }));
    const meId = store.me ? store.me.id : null;
    syncList(els.list, this.items, members, (u) => u.id + ':' + (u.id === meId),
      (u) => this.build(u, u.id === meId),
      (li, u) => {
        (li.querySelector('button') || li).dataset.testid = 'member-' + u.name;
        li.querySelector('.member-name').textContent = u.name;
      });
    els.heading.textContent = room ? `Online in #${room.name} (${members.length})` : 'Online';
    let note = '';
    if (view && view.kind === 'dm') note = `Private conversation with ${view.name}. Only the two of you see it.`;
    else if (room && !room.joined) note = 'Not connected to this room right now.';
    els.note.textContent = note;
    els.note.hidden = !note;
  }

  build(user, isMe) {
    const name = h('span', { class: 'member-name' }, user.name);
    if (isMe) return h('li', { class: 'member' }, h('span', { class: 'member-self' }, name, ' (you)'));
    const button = h('button', {
      type: 'button',
      class: 'member-button',
      title: 'Talk privately with ' + user.name,
      onclick: () => this.actions.openConversation(user),
    }, name, srOnly(': talk privately'));
    return h('li', { class: 'member' }, button);
  }
}
