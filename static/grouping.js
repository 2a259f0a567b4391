// Which messages share a header, and where a new day starts (pure; day-marks.js applies it).

// Messages of one author closer than this share one header (what Slack and Campfire do).
export const GROUP_MS = 5 * 60 * 1000;

/** The local calendar day of ms (epoch milliseconds) as "YYYY-MM-DD": equal for the same day. */
export function dayKey(ms) {
  const d = new Date(ms);
  return [d.getFullYear(), String(d.getMonth() + 1).padStart(2, '0'), String(d.getDate()).padStart(2, '0')].join('-');
}

/**
 * Whether message m goes on under the header of prev, the message shown just before it: same
 * author, same day, at most GROUP_MS later, neither deleted (a tombstone shows no author), and
 * m no reply (its quote would sit between the two as if the first had been quoted).
 */
export function continuesGroup(prev, m) {
  if (!prev || prev.deleted || m.deleted || m.reply_to || !prev.from || !m.from) return false;
  const gap = m.ts - prev.ts;
  return prev.from.id === m.from.id && gap >= 0 && gap <= GROUP_MS && dayKey(prev.ts) === dayKey(m.ts);
}
