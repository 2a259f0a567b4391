// The page's words in the user's language (English, Simplified Chinese).
//
//   t('sidebar.rooms')                      → "Rooms" / "房间"
//   t('notice.left', {room: '#lobby'})      → placeholders are {name}
//   plural('sidebar.online', 3)             → key.one / key.other by Intl.PluralRules; {count} is the number
//   formatTime(ms) formatDay(ms) formatDateTime(ms[, 'short']) formatNumber(n) formatDuration(ms)   (Intl, in the chosen language)
//
// The words for an error frame are refusals.js' errorText.
//
// The catalogues are static/i18n/<lang>.json: flat objects of dotted keys.
// A page with words of its own names them on its root element:
// <html data-catalogues="admin"> also loads static/i18n/admin/<lang>.json (the
// admin page's words, which the chat page need not download).
// This module loads them with a top-level await, so every module that
// imports it runs after they arrived; the static text of the page (its
// data-i18n attributes) is translated before the page is shown (style.css
// hides <html class="i18n-loading">). A key missing from the chosen
// catalogue falls back to English, then to the key itself.

import { pref, setPref } from './prefs.js';

export const LANGUAGES = ['en', 'zh-CN'];
const FALLBACK = 'en';
// Browser language tags that mean Simplified Chinese (BCP 47, compared lower-case).
const SIMPLIFIED = /^zh(-hans(-.*)?|-cn|-sg|-my)?$/;
// data-i18n-<attr>="key" translates that attribute; data-i18n="key" the text.
const ATTRIBUTES = ['aria-label', 'placeholder', 'title'];
const DAY_MS = 86400000;
// How a duration is worded (formatDuration): its units, largest first, in seconds; how many are named.
const DURATION_UNITS = [['days', 86400], ['hours', 3600], ['minutes', 60], ['seconds', 1]];
const DURATION_SHOWN = 2;

/** The language for a browser's preferred languages (navigator.languages): the first one the page speaks. */
export function pickLanguage(preferred) {
  for (const tag of preferred || []) {
    const lower = String(tag).toLowerCase();
    if (SIMPLIFIED.test(lower)) return 'zh-CN';
    if (lower === 'en' || lower.startsWith('en-')) return 'en';
  }
  return FALLBACK;
}

function chosenLanguage() {
  const choice = pref('lang');
  return choice === 'auto' ? pickLanguage(navigator.languages || [navigator.language]) : choice;
}

async function loadFile(path) {
  try {
    const response = await fetch(new URL(`./i18n/${path}.json`, import.meta.url));
    if (response.ok) return await response.json();
  } catch {
    // offline or refused: the fallback language (or the keys) still make a usable page
  }
  return {};
}

// The page's own catalogues besides the shared one (see the top of this file).
const OWN_CATALOGUES = (document.documentElement.dataset.catalogues ?? '').split(/\s+/).filter(Boolean);

/** Every catalogue of language `code` this page uses, merged into one object. */
async function loadCatalogue(code) {
  const parts = await Promise.all(['', ...OWN_CATALOGUES.map((name) => `${name}/`)].map((dir) => loadFile(dir + code)));
  return Object.assign({}, ...parts);
}

const current = chosenLanguage();
const [fallback, own] = await Promise.all([
  loadCatalogue(FALLBACK), current === FALLBACK ? null : loadCatalogue(current),
]);
const catalogue = own || fallback;

/** The language the page speaks: "en" or "zh-CN". */
export function lang() {
  return current;
}

/** Whether a catalogue holds `key` (e.g. a server error code the page knows). */
export function has(key) {
  return key in catalogue || key in fallback;
}

/** The text of `key` with each {name} replaced by vars[name] (left as is when vars lacks it). */
export function t(key, vars = {}) {
  const text = catalogue[key] ?? fallback[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** `key.<category>` for the number n (Intl.PluralRules; `key.other` when the category has no entry); {count} is n. */
export function plural(key, n, vars = {}) {
  const category = new Intl.PluralRules(current).select(n);
  const chosen = has(`${key}.${category}`) ? `${key}.${category}` : `${key}.other`;
  return t(chosen, { count: formatNumber(n), ...vars });
}

/** n with the language's digit grouping. */
export function formatNumber(n) {
  return new Intl.NumberFormat(current).format(n);
}

// The time-format setting as Intl options: the language's own habit, or forced 24- or 12-hour.
function hourOptions() {
  const format = pref('timeFormat');
  if (format === '24h') return { hourCycle: 'h23' };
  if (format === '12h') return { hourCycle: 'h12' };
  return {};
}

/** The time of day of ms (epoch milliseconds): "14:05", "2:05 PM", "下午2:05". */
export function formatTime(ms) {
  return new Intl.DateTimeFormat(current, { hour: 'numeric', minute: '2-digit', ...hourOptions() }).format(ms);
}

function dayNumber(date) {
  return Math.floor((date.getTime() - date.getTimezoneOffset() * 60000) / DAY_MS);
}

/**
 * The local day of ms, for a day separator: "Today", "Yesterday", else the weekday and date
 * ("Monday, 3 March"; the year too when it is not this year's).
 */
export function formatDay(ms, now = Date.now()) {
  const date = new Date(ms);
  const today = new Date(now);
  const days = dayNumber(today) - dayNumber(date);
  if (days === 0) return t('time.today');
  if (days === 1) return t('time.yesterday');
  const options = { weekday: 'long', month: 'long', day: 'numeric' };
  if (date.getFullYear() !== today.getFullYear()) options.year = 'numeric';
  return new Intl.DateTimeFormat(current, options).format(date);
}

/**
 * Date and time of ms: in full for a tooltip, "Monday, 3 March 2025 at 14:05:09"; dateStyle 'short'
 * for a table (the admin page's), "03/03/2025, 14:05:09".
 */
export function formatDateTime(ms, dateStyle = 'full') {
  return new Intl.DateTimeFormat(current, { dateStyle, timeStyle: 'medium', ...hourOptions() }).format(ms);
}

/**
 * ms as people say how long something lasts, by the server's rule (docs/protocol.md, "error";
 * chatd/durations.py): whole seconds, a part of one counted as one; the largest unit, and the next
 * one down when that is not zero: "9 minutes, 59 seconds", "9分钟59秒", "1 day".
 */
export function formatDuration(ms) {
  let left = Math.max(1, Math.ceil(ms / 1000));
  const counts = DURATION_UNITS.map(([, size]) => {
    const count = Math.floor(left / size);
    left %= size;
    return count;
  });
  const first = counts.findIndex((count) => count > 0);
  const shown = {};
  for (let i = first; i < Math.min(first + DURATION_SHOWN, counts.length); i++) {
    if (counts[i]) shown[DURATION_UNITS[i][0]] = counts[i];
  }
  return new Intl.DurationFormat(current, { style: 'long' }).format(shown);
}

/**
 * A translated text whose {placeholders} are nodes (a <bdi> of a user's name): the parts to put in an
 * element, strings and nodes in order. fill(t('members.dm_note'), {name: bdi(peer.name)}).
 */
export function fill(text, nodes) {
  return text.split(/(\{\w+\})/).filter(Boolean).map((part) => {
    const name = part.slice(1, -1);
    return part.startsWith('{') && name in nodes ? nodes[name] : part;
  });
}

/** Translate the static text under root: data-i18n (text) and data-i18n-aria-label/-placeholder/-title. */
export function translate(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const attr of ATTRIBUTES) {
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) el.setAttribute(attr, t(el.getAttribute(`data-i18n-${attr}`)));
  }
}

/**
 * Switch to `choice` ('auto', 'en', 'zh-CN'): remembered. → whether the page must reload to speak it
 * (the caller reloads; the resume token keeps the user), false when it speaks it already.
 */
export function setLanguage(choice) {
  setPref('lang', choice);
  return chosenLanguage() !== current;
}

document.documentElement.lang = current;
translate(document);
document.documentElement.classList.remove('i18n-loading');
