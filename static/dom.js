// Building elements. Strings always become text nodes (textContent), never
// markup: names and messages come from other users.

/**
 * h('li', {class: 'msg', 'data-id': 3, onclick: fn}, 'text', childNode)
 * Props: class, text, on<event> (listener), anything else an attribute
 * (true → present, false/null/undefined → left out).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  setChildren(el, ...children);
  return el;
}

/** Replace el's children; null, undefined and false are left out (replaceChildren would print them). */
export function setChildren(el, ...children) {
  const nodes = [];
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    nodes.push(child instanceof Node ? child : String(child));
  }
  el.replaceChildren(...nodes);
}

/**
 * A user-supplied string (a name, a room name, a topic) as an element of its
 * own: <bdi> isolates its direction, so a right-to-left name cannot reorder
 * the text around it (HTML, "The bdi element").
 */
export function bdi(text, props = {}) {
  return h('bdi', props, text);
}

/** Text only for screen readers (the .sr-only class in style.css). */
export function srOnly(text) {
  return h('span', { class: 'sr-only' }, text);
}

export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error('page is missing #' + id);
  return el;
}

/**
 * Make `list`'s children match `items`, reusing the element of each key
 * (`cache`: key → element) so a focused button survives a refresh. `build`
 * makes a new element, `update` refreshes one; elements are moved only when
 * out of place. A key names the entry (a user's id, a room's key), never what
 * an event changes in it: a new key is a new element, and the focus and an
 * open menu in the old one would be gone (update redraws with redraw() below).
 */
export function syncList(list, cache, items, keyOf, build, update) {
  const seen = new Set();
  let prev = null;
  for (const item of items) {
    const key = keyOf(item);
    seen.add(key);
    let el = cache.get(key);
    if (!el) {
      el = build(item);
      cache.set(key, el);
    }
    update(el, item);
    const expected = prev ? prev.nextSibling : list.firstChild;
    if (expected !== el) list.insertBefore(el, expected);
    prev = el;
  }
  for (const [key, el] of cache) {
    if (!seen.has(key)) {
      el.remove();
      cache.delete(key);
    }
  }
}

// A control of an entry drawn again is found by its data-focus: what it is, not where it is.
const controlOf = (root, key) => [...root.querySelectorAll('[data-focus]')].find((el) => el.dataset.focus === key);

/**
 * Draw an entry again, keeping what the user was doing in it: `swap()` puts the new drawing in place of
 * `before` (the entry's element, or its container) and returns `after` (the same element, or the one that
 * took its place). A menu open in it opens again: a <details> whose <summary> has a data-focus, or a
 * control with a data-focus and aria-expanded="true" (clicked again: its own handler opens it). The
 * focus, if it was inside, goes to the new control with the same data-focus; when there is none (a new
 * rank took the menu away) to `after` itself, focusable for it — never to the page's <body>.
 */
export function redraw(before, swap) {
  const active = document.activeElement;
  const focused = before.contains(active) ? active.dataset.focus || '' : null;
  const open = [...before.querySelectorAll('details[open] > summary[data-focus], [data-focus][aria-expanded="true"]')]
    .map((el) => el.dataset.focus);
  const after = swap();
  for (const key of open) {
    const control = controlOf(after, key);
    if (!control) continue;
    if (control.localName === 'summary') control.parentElement.open = true;
    else if (control.getAttribute('aria-expanded') !== 'true') control.click();
  }
  if (focused === null) return after;
  // Reopening may have moved the focus (into a chooser): it goes back to what had it, or its new equivalent.
  const target = after.contains(active) ? active : (focused && controlOf(after, focused)) || after;
  if (target === after && !after.hasAttribute('tabindex')) after.setAttribute('tabindex', '-1');
  target.focus({ preventScroll: true });
  return after;
}
