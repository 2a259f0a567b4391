// Day separators and grouped headers in a message list (the rules: grouping.js). A separator is
// an <li> of its own before the first message of each day, holding a heading, so a screen reader
// can move from day to day; a message that goes on under its author's previous one gets the
// class `grouped` (style.css shows its header only to screen readers).

import { h } from './dom.js';
import { continuesGroup, dayKey } from './grouping.js';
import { formatDay } from './i18n.js';

/** The heading over the first message of a day: "Today", "Yesterday", or the date (i18n.js formatDay). */
function daySeparator(ts) {
  const day = dayKey(ts);
  return h('li', { class: 'day-sep', 'data-testid': 'day-separator', 'data-day': day, 'data-label': formatDay(ts) },
    h('h2', {}, h('time', { datetime: day }, formatDay(ts))));
}

// The separator right before li for the day of ts: the one already there when it says the same.
function separatorBefore(li, ts) {
  const before = li.previousElementSibling;
  if (before && before.classList.contains('day-sep') && before.dataset.day === dayKey(ts)
      && before.dataset.label === formatDay(ts)) return before;
  const sep = daySeparator(ts);
  if (before && before.classList.contains('day-sep')) before.replaceWith(sep);
  else li.before(sep);
  return sep;
}

/**
 * Make `list`'s separators and `grouped` classes match `items`: [[message, li]] in the order
 * shown (message: {ts, from, deleted?, reply_to?}). Separators no longer wanted are removed.
 */
export function decorateList(list, items) {
  const kept = new Set();
  let prev = null;
  for (const [m, li] of items) {
    const newDay = !prev || dayKey(prev.ts) !== dayKey(m.ts);
    if (newDay) kept.add(separatorBefore(li, m.ts));
    li.classList.toggle('grouped', !newDay && continuesGroup(prev, m));
    prev = m;
  }
  for (const sep of list.querySelectorAll(':scope > .day-sep')) if (!kept.has(sep)) sep.remove();
}

function msUntilTomorrow(now = new Date()) {
  return new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1).getTime() - now.getTime();
}

/** Call fn just after every local midnight, while the page is open. */
export function everyMidnight(fn) {
  setTimeout(() => {
    fn();
    everyMidnight(fn);
  }, msUntilTomorrow() + 1000);
}
