// The images and files of a message (docs/protocol.md, "Messages", attachments).
// A part of message-item.js.

/** The attachments of m, or null. */
export function attachmentsPart(_m, _ctx) {
  return null;
}
