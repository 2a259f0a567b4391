// Showing what users wrote without letting it rearrange the page around it.
// In the DOM a user's string goes in a <bdi> (dom.js bdi()); in plain text
// (titles, labels, placeholders) it is wrapped in Unicode isolates here.

const FSI = '\u2068'; // FIRST STRONG ISOLATE: direction from the string's own first letter
const PDI = '\u2069'; // POP DIRECTIONAL ISOLATE

/**
 * A user-supplied string for plain text: a right-to-left name cannot reverse
 * the words around it (UAX #9, explicit isolates; what <bdi> does in HTML).
 */
export function isolate(text) {
  return FSI + text + PDI;
}

const EXCERPT_CHARS = 140;

/** "name: the first words" of message m, as plain text (what a confirmation is about). */
export function excerpt(m) {
  const chars = Array.from(m.text || '');
  const text = chars.length > EXCERPT_CHARS ? chars.slice(0, EXCERPT_CHARS - 1).join('') + '…' : chars.join('');
  return `${isolate(m.from.name)}: ${text}`;
}

/**
 * A short stable tag for a user: two users may have the same name at
 * different times (a guest name is freed when its user has been gone a
 * while), never the same id.
 */
export function userTag(id) {
  return '#' + id;
}
