// The reactions under a message (docs/protocol.md, "Messages", reactions).
// A part of message-item.js.

/** The reactions of m, or null. */
export function reactionsPart(_m, _ctx) {
  return null;
}
