// The page's settings, per browser (localStorage): language, theme, time
// format, notifications, sound, sidebar order. They describe the browser,
// not the user, so signing out (persist.js forgetAll, prefix "chatd.")
// keeps them: their prefix is "chatd-prefs.". Storage may be disabled; the
// page then uses the defaults.

const PREFIX = 'chatd-prefs.';

/** Each setting, its allowed values (the first is the default). */
export const CHOICES = {
  lang: ['auto', 'en', 'zh-CN'],          // auto: from the browser's languages (i18n.js)
  theme: ['system', 'light', 'dark'],
  timeFormat: ['locale', '24h', '12h'],
  desktop: [false, true],                 // desktop notifications (Notification API)
  sound: [false, true],                   // a sound for a mention while the tab is hidden
  desktopOffered: [false, true],          // the page offered desktop notifications once (alerts.js)
  sort: ['unread', 'activity', 'name'],   // sidebar order: unread first, recent activity, or by name (sidebar.js)
};

const listeners = new Set();
const memory = new Map(); // this tab's choices: they hold even when storage refuses them

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** The value of setting `name` (a key of CHOICES); its default when unset, unreadable or no longer allowed. */
export function pref(name) {
  const allowed = CHOICES[name];
  if (memory.has(name)) return memory.get(name);
  try {
    const raw = storage()?.getItem(PREFIX + name);
    const value = raw === null || raw === undefined ? allowed[0] : JSON.parse(raw);
    return allowed.includes(value) ? value : allowed[0];
  } catch {
    return allowed[0];
  }
}

/** Remember `value` for setting `name` and tell the listeners; a value not in CHOICES throws (a bug). */
export function setPref(name, value) {
  if (!CHOICES[name] || !CHOICES[name].includes(value)) throw new Error(`bad setting ${name}=${value}`);
  memory.set(name, value);
  try {
    storage()?.setItem(PREFIX + name, JSON.stringify(value));
  } catch {
    // private mode or quota: the choice holds until the page is left
  }
  for (const fn of listeners) fn(name, value);
}

/** fn(name, value) after each change made in this tab. */
export function onPref(fn) {
  listeners.add(fn);
}
