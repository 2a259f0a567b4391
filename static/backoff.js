// How long to wait before the next reconnect (docs/protocol.md, "Reconnecting").
// Jitter spreads the reconnects of many pages after a server restart so they
// do not all arrive in the same millisecond.

export const FIRST_DELAY_MS = 1000;
export const MAX_DELAY_MS = 30000;
export const RESTART_MAX_DELAY_MS = 2000;
const RESTART_MIN_DELAY_MS = 250;
export const CLOSE_SERVICE_RESTART = 1012;

/**
 * Milliseconds to wait after `attempt` failed tries in a row (0 for the first
 * retry) when the last socket closed with `closeCode`.
 */
export function reconnectDelay(attempt, closeCode, random = Math.random) {
  if (closeCode === CLOSE_SERVICE_RESTART) {
    // The successor is already listening: come back soon, but not all at once.
    return Math.round(RESTART_MIN_DELAY_MS + random() * (RESTART_MAX_DELAY_MS - RESTART_MIN_DELAY_MS));
  }
  const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(attempt, 16));
  return Math.round(base * (0.5 + random())); // ±50 %
}
