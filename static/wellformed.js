// Strings the server can take. A JavaScript string is UTF-16 and may hold
// an unpaired surrogate (half of an emoji: a paste cut in the middle, a
// string sliced by code units); JSON.stringify sends it as "\ud83d", which
// the server refuses (docs/protocol.md, "JSON the server accepts").

// A high surrogate with no low one after it, or a low one with no high one before it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** `s` with every unpaired surrogate replaced by U+FFFD, as String.prototype.toWellFormed does. */
export function wellFormed(s) {
  return typeof s.toWellFormed === 'function' ? s.toWellFormed() : s.replace(LONE_SURROGATE, '\uFFFD');
}

/** JSON text of a frame whose every string value is well formed (field names are our own). */
export function frameJson(frame) {
  return JSON.stringify(frame, (key, value) => (typeof value === 'string' ? wellFormed(value) : value));
}
