// The quote of the message a message replies to (docs/protocol.md, "Messages", reply_to).
// A part of message-item.js.

/** The quoted message m replies to, or null. */
export function replyQuote(_m, _ctx) {
  return null;
}
