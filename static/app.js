// Entry point: builds the parts and wires them together. Nothing else
// reaches across modules; each part gets what it may touch.

import './theme.js'; // first: the page is never painted in the other theme
import { t } from './i18n.js'; // then: its catalogues load (top-level await) before any module that speaks runs
import { connect } from './chatd-client.js';
import { takeAppToken } from './handoff.js';
import { Store } from './store.js';
import { Outbox } from './outbox.js';
import { ChatClient } from './client.js';
import { byId } from './dom.js';
import { Toasts } from './toasts.js';
import { ConfirmDialog } from './confirm-dialog.js';
import { ConnState } from './conn-state.js';
import { NameDialog } from './name-dialog.js';
import { Sidebar } from './sidebar.js';
import { MembersView } from './members-view.js';
import { MessagesView } from './messages-view.js';
import { ScrollAnchor } from './scroll-anchor.js';
import { SearchBox } from './search-box.js';
import { Composer } from './composer.js';
import { UploadTray } from './upload-tray.js';
import { Completion } from './completion.js';
import { EmojiPicker } from './emoji-picker.js';
import { ChatHeader } from './chat-header.js';
import { MeMenu } from './me-menu.js';
import { forgetAll, saved } from './persist.js';
import { followUpgrades } from './upgrade.js';
import { Notice, appTokenProblem, bannedText, kickedText } from './notice.js';
import { Moderator } from './moderation.js';
import { MessageChanges } from './message-changes.js';
import { ReplyBar } from './reply.js';
import { Notifications } from './notifications.js';
import { SettingsDialog } from './settings.js';
import { Links } from './deep-links.js';
import { QuickSwitcher } from './switcher.js';
import { Keyboard } from './keyboard.js';
import { isolate } from './text.js';
import { Alerts } from './alerts.js';
import { ReadTracker } from './read-tracker.js';
import { UnreadLine } from './unread-line.js';
import { Typing } from './typing.js';
import { NotifyLevel } from './notify-level.js';

const appToken = takeAppToken(); // first of all: out of the address bar before anything can copy it
const app = byId('app');
const store = new Store();
const chat = connect({ start: false, token: saved.token.get(), eventsSince: saved.eventsSince.get() });
const toasts = new Toasts(byId('toasts'));
const toast = (text) => toasts.show(text);
const confirmDialog = new ConfirmDialog({
  dialog: byId('confirm-dialog'), question: byId('confirm-question'), detail: byId('confirm-detail'), yes: byId('confirm-yes'),
});
const outbox = new Outbox(chat, store, toast);
const notice = new Notice({ box: byId('notice'), text: byId('notice-text'), action: byId('notice-action') });
const notifications = new Notifications(
  { button: byId('notifications'), count: byId('notifications-count'), panel: byId('notifications-panel'),
    list: byId('notifications-list') },
  toasts,
);

const moderator = new Moderator(chat, toast, {
  dialog: byId('mod-dialog'), form: byId('mod-form'), heading: byId('mod-heading'), note: byId('mod-note'),
  whereField: byId('mod-where-field'), where: byId('mod-where'), whereRoom: byId('mod-where-room'),
  durationField: byId('mod-duration-field'), duration: byId('mod-duration'), noEnd: byId('mod-no-end'),
  reasonField: byId('mod-reason-field'), reason: byId('mod-reason'), submit: byId('mod-submit'), cancel: byId('mod-cancel'),
}, confirmDialog);

const dialog = new NameDialog(
  {
    overlay: byId('name-overlay'), form: byId('name-form'), input: byId('name-input'),
    error: byId('name-error'), cancel: byId('name-cancel'), app,
  },
  {
    submit: (name) => {
      client.submitName(name);
      keyboard.focusComposer(); // a first name: the composer is still closed, and the first room focuses it
    },
    cancel: () => client.keepName(),
  },
);

// Why the server took the user out of a room (docs/protocol.md, "left").
function leftText(room, reason) {
  if (reason === 'removed') return t('notice.left_removed', { room: `#${room}` });
  if (reason === 'deleted') return t('notice.left_deleted', { room: `#${room}` });
  return reason ? t('notice.left_reason', { room: `#${room}`, reason }) : t('notice.left', { room: `#${room}` });
}

// Signed out (here, in another tab, or from another device): nothing of the user may stay
// on this page or in this browser. A reload starts over from the name form.
function startOver() {
  forgetAll();
  byId('composer').value = '';
  window.location.reload();
}

const client = new ChatClient(chat, store, outbox, {
  askName: (opts) => dialog.open(opts),
  toast,
  signedOut: startOver,
  appTokenRefused: (err) => notice.show(appTokenProblem(err)),
  // A deleted account cannot come back: what is offered is a new start, under a new name.
  kicked: (kick) => {
    if (kick.cause !== 'account_deleted') {
      notice.show(kickedText(kick), { label: t('notice.reconnect'), act: () => chat.start() });
      return;
    }
    // A deleted account cannot come back: nothing of its chat stays (no box to write in), and what is
    // offered is a new start under a new name.
    app.dataset.ended = '';
    notice.show(kickedText(kick), { label: t('notice.start_again'), act: startOver });
  },
  banned: (ban) => { // no button: coming back is not the user's choice
    app.dataset.ended = ''; // nothing of the chat stays on screen (not the rooms it would be joining): only why
    notice.show(bannedText(ban));
  },
  left: (room, reason) => toast(leftText(isolate(room), reason)),
  event: (frame) => notifications.add(frame),
  arrived: (view, m) => alerts.arrived(view, m),
});
// Desktop notifications and sound for messages not on screen; clicking one opens the message.
const alerts = new Alerts({ before: byId('message-scroller') }, store, { open: (m) => client.jumpTo(m) });

// A message counts as read only if it arrived in the view on screen while the tab was visible.
store.isWatched = (key) => key === store.current && document.visibilityState === 'visible';

new ConnState(
  { box: byId('conn-state'), label: byId('conn-label'), countdown: byId('conn-countdown'), retry: byId('retry-now') },
  chat,
);

const sidebar = new Sidebar(
  {
    rooms: byId('room-list'), conversations: byId('conversation-list'), noConversations: byId('no-conversations'),
    createForm: byId('create-room-form'), createToggle: byId('new-room-toggle'), newRoom: byId('new-room'),
    newTopic: byId('new-topic'), createError: byId('create-error'),
  },
  store,
  // Chosen in the sidebar, even the one on screen: the focus goes to the message box (keyboard.js).
  {
    openRoom: (name) => {
      client.openRoom(name);
      keyboard.focusComposer();
    },
    openConversation: (user) => {
      client.openConversation(user);
      keyboard.focusComposer();
    },
    closeConversation: (view) => client.closeConversation(view),
    createRoom: (name, topic) => client.createRoom(name, topic),
  },
);

new MembersView(
  { list: byId('members'), heading: byId('members-heading'), note: byId('members-note') },
  store,
  { openConversation: (user) => client.openConversation(user), moderator },
);

const changes = new MessageChanges(chat, store, toast, () => byId('composer').focus(), confirmDialog);
// Files for the next message: the 📎 button, a paste into the box, a drop on the messages or the box.
const uploadTray = new UploadTray(
  {
    tray: byId('upload-tray'), button: byId('attach'), input: byId('attach-input'), textarea: byId('composer'),
    dropZones: [byId('message-scroller'), byId('composer-form')],
  },
  () => saved.token.get(),
  () => composer.update(),
);

const composer = new Composer(
  { form: byId('composer-form'), textarea: byId('composer'), counter: byId('char-count'), send: byId('send') },
  store,
  // What the user sends shows at once, at the bottom, however far up they were reading.
  {
    say: (text, attachments) => {
      client.say(text, attachments, changes.takeReply());
      unreadLine.toLatest();
    },
  },
  uploadTray,
);
new ReplyBar(byId('composer-form'), store, changes);
new Completion(byId('composer'), composer, store);
const emojiPicker = new EmojiPicker({ form: byId('composer-form'), before: byId('send') }, composer);
// In the composer (after the completion list, which takes its keys first): Esc drops the reply
// being written, ↑ in an empty box edits the user's last message.
composer.onKey((e) => {
  if (e.key === 'Escape' && store.current && store.replying.has(store.current)) {
    changes.cancelReply();
    return true;
  }
  if (e.key === 'ArrowUp' && !e.shiftKey && !e.altKey && e.target.value === '') {
    if (changes.editLast()) {
      e.preventDefault();
      return true;
    }
  }
  return false;
});

// Where the message list stays as it changes (scroll-anchor.js): the list and the "New messages" line move it.
const messageEls = { scroller: byId('message-scroller'), list: byId('messages') };
messageEls.anchor = new ScrollAnchor(messageEls.scroller, messageEls.list);
new MessagesView(
  { ...messageEls, older: byId('load-older'), empty: byId('messages-note') },
  store,
  {
    loadOlder: (view) => client.loadOlder(view),
    loadNewer: (view) => client.loadNewer(view),
    edit: (cid) => {
      const text = outbox.take(cid);
      if (text !== null) composer.edit(text);
    },
    discard: (cid) => outbox.discard(cid),
    deleteMessage: (m) => moderator.deleteMessage(m),
    jump: (m, id) => client.jump(m, id),
    // The React chooser's "more": the whole picker, its choice given as a reaction.
    pickReaction: (m, returnTo) => emojiPicker.open({ choose: (emoji) => changes.toggleReaction(m, emoji), returnTo }),
    ...changes.actions(),
  },
);

// After the list: they look at its items once it has drawn them.
const unreadLine = new UnreadLine(messageEls, store, {
  loadOlder: (view) => client.loadOlder(view), showLatest: (view) => client.showLatest(view),
});
new ReadTracker(messageEls, store, client.attention);
new Typing({ textarea: byId('composer'), after: byId('message-scroller') }, store, chat);
new NotifyLevel({ before: byId('toggle-members') }, store, client.attention);

const search = new SearchBox(
  {
    form: byId('search-form'), input: byId('search-input'), panel: byId('search-panel'), status: byId('search-status'),
    list: byId('search-results'), more: byId('search-more'), close: byId('search-close'),
  },
  store,
  { search: (frame) => chat.request(frame), jump: (result) => client.jumpTo(result) },
);

new ChatHeader(
  { title: byId('room-title'), topic: byId('room-topic'), leave: byId('leave-room'), me: byId('me') },
  store,
  { leave: (view) => client.leaveRoom(view) },
);


const account = {
  rename: () => dialog.open({ name: store.me ? store.me.name : '', cancellable: true }),
  signOut: (everywhere) => {
    // Guest users have no password: signing out for good means the next sign-in is a new user.
    const what = t(everywhere ? 'me.sign_out_everywhere_confirm' : 'me.sign_out_confirm');
    if (window.confirm(`${what} ${t('me.sign_out_warning')}`)) client.signOut(everywhere);
  },
};

const settings = new SettingsDialog(
  {
    dialog: byId('settings-dialog'), close: byId('settings-close'), name: byId('settings-name'),
    rename: byId('settings-rename'), signOut: byId('settings-sign-out'),
    signOutEverywhere: byId('settings-sign-out-everywhere'), lang: byId('settings-lang'),
    theme: byId('settings-theme'), timeFormat: byId('settings-time'), sort: byId('settings-sort'),
    desktop: byId('settings-desktop'), sound: byId('settings-sound'), desktopNote: byId('settings-desktop-note'),
  },
  store,
  // Every word and time on the page is drawn again in a new language or time format: the simplest
  // sure way is a reload (the resume token keeps the user, the outbox their unsent messages).
  { ...account, reload: () => window.location.reload() },
);

const meMenu = new MeMenu({ button: byId('me'), menu: byId('me-menu') }, { ...account, settings: () => settings.open() });

// On a narrow screen the sidebar and the member list are drawers over the
// messages; one open at a time, closed by choosing something or Escape.
const drawers = { sidebar: byId('toggle-sidebar'), members: byId('toggle-members') };

function openDrawer(name) {
  app.dataset.drawer = name || '';
  for (const [which, button] of Object.entries(drawers)) button.setAttribute('aria-expanded', String(which === name));
}

for (const [which, button] of Object.entries(drawers)) {
  button.addEventListener('click', () => openDrawer(app.dataset.drawer === which ? null : which));
}
store.on('current', () => openDrawer(null));
byId('scrim').addEventListener('click', () => openDrawer(null));

const openModMenu = () => document.querySelector('details.mod-menu[open]');

// What Esc closes (keyboard.js), in this order; the focus goes back to what opened it when it was inside.
function closer(isOpen, close, panel, opener) {
  return {
    isOpen,
    close: () => {
      const inside = panel.contains(document.activeElement) || document.activeElement === document.body;
      const back = opener(); // before closing: a drawer's opener depends on which is open
      close();
      if (inside) back.focus();
    },
  };
}

const switcher = new QuickSwitcher(
  { dialog: byId('switcher'), input: byId('switcher-input'), list: byId('switcher-list'), none: byId('switcher-none') },
  store,
  { openRoom: (name) => client.openRoom(name), openConversation: (user) => client.openConversation(user) },
);

const keyboard = new Keyboard({ composer: byId('composer') }, store, {
  switcher,
  sidebar,
  closers: [
    { isOpen: () => meMenu.isOpen(), close: () => meMenu.close() },
    // A member's ⋯ menu (a <details>): closed, the focus back on its button when it was inside.
    {
      isOpen: () => Boolean(openModMenu()),
      close: () => {
        const menu = openModMenu();
        closer(null, () => { menu.open = false; }, menu, () => menu.querySelector('summary')).close();
      },
    },
    closer(() => notifications.isOpen(), () => notifications.toggle(false), byId('notifications-panel'),
      () => byId('notifications')),
    closer(() => search.isOpen(), () => search.close(), byId('search-panel'), () => byId('search-input')),
    closer(() => !byId('create-room-form').hidden, () => sidebar.showCreate(false), byId('create-room-form'),
      () => byId('new-room-toggle')),
    closer(() => Boolean(app.dataset.drawer), () => openDrawer(null), app, () => drawers[app.dataset.drawer] || byId('composer')),
  ],
}, { show: (view) => (view.kind === 'room' ? client.openRoom(view.name) : client.openConversation(view.peer)) });

new Links(store, client, unreadLine);
followUpgrades(chat, byId('composer'));
client.start(appToken);
