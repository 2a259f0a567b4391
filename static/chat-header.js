// The head of the conversation pane: what is on screen, its topic, and the
// buttons that act on it.

export class ChatHeader {
  /** els: {title, topic, leave, me}; actions: {leave(view), rename()} */
  constructor(els, store, actions) {
    this.els = els;
    this.store = store;
    els.leave.addEventListener('click', () => {
      const view = store.currentView();
      if (view && view.kind === 'room') actions.leave(view);
    });
    els.me.addEventListener('click', () => actions.rename());
    for (const type of ['current', 'views']) store.on(type, () => this.render());
    store.on('me', () => this.renderMe());
    this.render();
    this.renderMe();
  }

  render() {
    const { title, topic, leave } = this.els;
    const view = this.store.currentView();
    title.textContent = view ? view.title() : 'chatd';
    let about = '';
    if (view && view.kind === 'room') about = view.topic;
    else if (view) about = 'private conversation';
    topic.textContent = about;
    topic.hidden = !about;
    leave.hidden = !(view && view.kind === 'room');
    if (view) leave.setAttribute('aria-label', 'Leave ' + view.title());
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
    me.textContent = user ? user.name : '';
    me.title = user ? `You are ${user.name}. Click to change your name.` : '';
  }
}
