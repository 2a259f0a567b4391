// What the page remembers across reloads. localStorage (shared by the tabs
// of this site): who the user is and where they were. sessionStorage (this
// tab only): says not acknowledged yet, so a reload does not lose them.
// Storage can be disabled or full; the page then works, it just forgets.

const PREFIX = 'chatd.';

function read(storage, key, fallback) {
  try {
    const raw = storage.getItem(PREFIX + key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

function write(storage, key, value) {
  try {
    if (value === null || value === undefined) storage.removeItem(PREFIX + key);
    else storage.setItem(PREFIX + key, JSON.stringify(value));
  } catch {
    // private mode or quota: remembering is a convenience, not a requirement
  }
}

function local() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

function session() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

function accessor(storageFn, key, fallback) {
  return {
    get: () => (storageFn() ? read(storageFn(), key, fallback) : fallback),
    set: (value) => storageFn() && write(storageFn(), key, value),
  };
}

/** Forget everything this page keeps, in every tab of this site: the user signed out. */
export function forgetAll() {
  for (const storage of [local(), session()]) {
    if (!storage) continue;
    try {
      for (const key of Object.keys(storage)) if (key.startsWith(PREFIX)) storage.removeItem(key);
    } catch {
      // storage disabled: there is nothing to forget
    }
  }
}

export const saved = {
  token: accessor(local, 'token', null),        // the resume token from the last welcome
  userId: accessor(local, 'userId', null),      // whose token it is
  name: accessor(local, 'name', ''),            // pre-fills the name form
  rooms: accessor(local, 'rooms', []),          // names of the rooms the user is in
  view: accessor(local, 'view', null),          // {kind, name, id}: what was on screen
  eventsSince: accessor(local, 'eventsSince', null), // the last stored event id seen (`events_since`)
  outbox: accessor(session, 'outbox', []),      // unacknowledged says
  // The settings dialog to open again after the reload a choice in it asked for (settings.js):
  // {focus, returnTo}, the ids of the control to focus and of what had the focus before it opened.
  settings: accessor(session, 'settings', null),
};
