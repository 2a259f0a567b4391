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
 * out of place.
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
