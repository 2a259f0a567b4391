// The words for an error frame or a refused request ({code, message, ...}), in the page's language.
//
// The server writes its messages in English. Where a refusal carries its detail as fields too
// (docs/protocol.md, "error": a mute's room, time left and reason, a reserved name's reason, a
// ban's end, whose name a name looks like, which rate limit and the wait, the room a room name
// looks like, which room limit, the room that does not exist or is not joined, the person a
// moderator may not act on, a name's broken rule and character, an upload's limits, a message's
// length limit, the edit window, the reaction caps, the archived or announcement room, why a
// token is refused, why a request is forbidden, why the server is unavailable, why an attachment
// is refused, an admin's reserved-name pattern and what is wrong with it), every language builds its sentence from those fields, so English and
// Chinese say the same; the moderator's reason is user text, shown as given (isolated, as names
// are). Codes whose English message names what a person does not know (a user id: OWN_WORDS)
// get the page's words in every language. For any other code an English page shows the server's
// message and another language its own words for the code (`error.<code>`), or the server's
// message for a code it does not know.

import { fileSize, fileSizes } from './file-size.js';
import { formatDateTime, formatDuration, formatNumber, has, lang, t } from './i18n.js';
import { isolate } from './text.js';

const ENGLISH = 'en';

// A user or room name's broken rule ({rule, char?, limit?}: docs/protocol.md, "error"), or a reserved
// name pattern's ({pattern, rule, ...}), completing "name …" / "room name …" / "the pattern … …"
// (`what`: 'name', 'room' or 'pattern'); null for a rule this page does not know.
function nameProblem(what, err) {
  const rule = `refusal.name_rule_${err.rule}`;
  if (typeof err.rule !== 'string' || !has(rule)) return null;
  const words = t(rule, { char: err.char ?? '', limit: formatNumber(err.limit ?? 0) });
  return t(`refusal.bad_${what}`, { rule: words, pattern: isolate(String(err.pattern ?? '')) });
}

// "{what}: {reason}" when the moderator or operator gave a reason, else what alone.
const because = (what, reason) => (reason ? t('refusal.because', { what, reason: isolate(reason) }) : what);

// Code → (err) → the sentence from its fields, or null when they are absent (an older server).
const BUILDERS = {
  bad_name: (err) => nameProblem(err.pattern === undefined ? 'name' : 'pattern', err),
  bad_room: (err) => nameProblem('room', err),
  muted(err) {
    if (err.reason === undefined) return null;
    const where = err.room === undefined ? 'everywhere' : 'in';
    const timed = typeof err.retry_ms === 'number';
    const what = t(`refusal.muted_${where}${timed ? '' : '_open'}`, {
      room: `#${isolate(err.room ?? '')}`, duration: timed ? formatDuration(err.retry_ms) : '',
    });
    return because(what, err.reason);
  },
  banned(err) {
    if (err.until === undefined) return null;
    const what = err.until === null ? t('refusal.banned_for_good') : t('refusal.banned_until', { when: formatDateTime(err.until) });
    return because(what, err.reason);
  },
  name_reserved(err) {
    if (err.listed !== undefined) { // an admin's pattern that is in the list already (as `listed`)
      const vars = { pattern: isolate(String(err.pattern)), listed: isolate(String(err.listed)) };
      return t(err.listed === err.pattern ? 'refusal.pattern_listed' : 'refusal.pattern_listed_as', vars);
    }
    if (err.name === undefined) return null;
    const name = isolate(err.name);
    return err.reason ? t('refusal.name_reserved_because', { name, reason: isolate(err.reason) }) : t('refusal.name_reserved', { name });
  },
  name_taken(err) {
    if (err.holder === undefined) return null;
    const vars = { name: isolate(err.name), holder: isolate(err.holder) };
    const like = err.name === err.holder ? '' : '_like';
    if (err.kept_ms === undefined) return t(like ? 'refusal.name_like_online' : 'refusal.name_in_use', vars);
    return t(`refusal.name${like}_held`, { ...vars, since: formatDuration(err.since_ms), kept: formatDuration(err.kept_ms) });
  },
  rate_limited(err) {
    const what = `refusal.rate_${err.limit}`;
    if (typeof err.retry_ms !== 'number' || !has(what)) return null;
    return t('refusal.retry', { what: t(what), duration: formatDuration(err.retry_ms) });
  },
  room_exists(err) {
    if (err.name === undefined) return null;
    const vars = { name: `#${isolate(err.name)}`, existing: `#${isolate(err.existing ?? '')}` };
    if (err.existing === undefined) return t('refusal.room_taken', vars);
    return t(err.existing.toLowerCase() === err.name.toLowerCase() ? 'refusal.room_exists' : 'refusal.room_like', vars);
  },
  too_many_rooms(err) {
    if (!['server', 'creator'].includes(err.limit)) return null;
    return t(`refusal.rooms_${err.limit}`, { count: formatNumber(err.count) });
  },
  no_such_room(err) {
    // Named by its id (a room deleted while a message to it was on its way): not shown, as ids are not.
    if (err.room === undefined) return Number.isInteger(err.room_id) ? t('refusal.room_gone') : null;
    return t(err.removed ? 'refusal.room_removed' : 'refusal.no_such_room', { room: `#${isolate(err.room)}` });
  },
  not_in_room(err) {
    return err.room === undefined ? null : t('refusal.not_in_room', { room: `#${isolate(err.room)}` });
  },
  bad_token: (err) => known(`refusal.token_${err.cause}`, err.cause),
  // The web app's sign-in link (app token).
  token_expired(err) {
    return typeof err.expired_ms === 'number' ? t('refusal.app_token_expired', { duration: formatDuration(err.expired_ms) }) : null;
  },
  missing_claim(err) {
    return typeof err.claim === 'string' ? t('refusal.missing_claim', { claim: err.claim }) : null;
  },
  bad_claim(err) {
    if (typeof err.valid_in_ms === 'number') return t('refusal.app_token_not_yet', { duration: formatDuration(err.valid_in_ms) });
    return typeof err.claim === 'string' ? t('refusal.bad_claim', { claim: err.claim }) : null;
  },
  bad_signature() {
    return t('refusal.app_token_signature');
  },
  bad_app_token(err) {
    const key = `refusal.app_token_${err.cause}`;
    if (typeof err.cause !== 'string' || !has(key)) return null;
    // The algorithm is the token's word (at most 16 characters): isolated as user text is.
    return t(key, { algorithm: isolate(String(err.algorithm ?? '')), accepted: (err.accepted || []).join(', ') });
  },
  text_too_long(err) {
    return typeof err.limit === 'number' ? t('refusal.text_too_long', { limit: formatNumber(err.limit) }) : null;
  },
  edit_window_passed(err) {
    if (typeof err.window_ms !== 'number') return null;
    return err.window_ms > 0 ? t('refusal.edit_window', { duration: formatDuration(err.window_ms) }) : t('refusal.edit_never');
  },
  too_many_reactions(err) {
    if (typeof err.per_message !== 'number' || typeof err.per_user !== 'number') return null;
    const caps = { per_message: formatNumber(err.per_message), per_user: formatNumber(err.per_user) };
    // `cap`: the one this reaction hit (per_message, per_user); a server without it: both caps.
    const hit = `refusal.too_many_reactions_${err.cap}`;
    return t(typeof err.cap === 'string' && has(hit) ? hit : 'refusal.too_many_reactions', caps);
  },
  room_archived(err) {
    return err.room === undefined ? null : t('refusal.room_archived', { room: `#${isolate(err.room)}` });
  },
  moderators_only(err) {
    return err.room === undefined ? null : t('refusal.moderators_only', { room: `#${isolate(err.room)}` });
  },
  // Uploads (POST /upload's error body carries the same fields).
  file_too_large(err) {
    if (typeof err.limit !== 'number') return null;
    if (typeof err.size !== 'number') return t('refusal.file_over_limit', { limit: fileSize(err.limit) });
    const [size, limit] = fileSizes(err.size, err.limit);
    return t('refusal.file_too_large', { size, limit });
  },
  unsupported_type(err) {
    if (err.empty) return t('refusal.file_empty');
    if (!Array.isArray(err.accepted)) return null;
    return t('refusal.unsupported_type', { accepted: err.accepted.join(', ') || t('refusal.accepted_none') });
  },
  image_too_large(err) {
    if (typeof err.limit !== 'number') return null;
    const limit = formatNumber(err.limit);
    if (typeof err.width !== 'number') return t('refusal.image_pixels', { limit });
    const vars = { width: formatNumber(err.width), height: formatNumber(err.height), frames: formatNumber(err.frames), limit };
    return t(err.frames > 1 ? 'refusal.image_frames_too_large' : 'refusal.image_too_large', vars);
  },
  bad_image(err) {
    return typeof err.format === 'string' ? t('refusal.bad_image', { format: err.format }) : null;
  },
  quota_exceeded(err) {
    if (typeof err.used !== 'number' || typeof err.quota !== 'number') return null;
    const [used, quota] = fileSizes(err.used, err.quota);
    return t('refusal.quota_exceeded', { used, quota });
  },
  forbidden(err) {
    // `reason` (one of a closed set); a server without it said only `user` and `rank`, for `rank`.
    const reason = err.reason ?? (err.user ? 'rank' : undefined);
    if (reason === 'rank') {
      if (!err.user || !['moderator', 'admin'].includes(err.rank)) return null;
      return t(`refusal.rank_${err.rank}`, { name: isolate(err.user.name) });
    }
    const key = reason === 'role' ? `refusal.forbidden_role_${err.role}` : `refusal.forbidden_${reason}`;
    return known(key, reason, { room: `#${isolate(err.room ?? '')}`, scope: isolate(String(err.scope ?? '')) });
  },
  unavailable: (err) => known(`refusal.unavailable_${err.cause}`, err.cause),
  bad_attachment: (err) => known(`refusal.attachment_${err.cause}`, err.cause, { limit: formatNumber(err.limit ?? 0) }),
  // The id asked for, as the person gave it (a link, an address): said back, so they see which one.
  no_such_user: (err) => (Number.isInteger(err.user) ? t('refusal.no_such_user', { id: String(err.user) }) : null),
};

// The words of `key` (with `vars`), chosen by `value`, a field of a closed set; null when the field
// is absent or this page does not know the value (a newer server's).
function known(key, value, vars = {}) {
  return typeof value === 'string' && has(key) ? t(key, vars) : null;
}

// Codes whose English message names what the person does not know (a user's or message's id, also
// in the frame's `user` or `id`): the page's own words for the code in every language.
const OWN_WORDS = new Set(['recipient_deleted', 'user_deleted', 'no_such_user', 'no_such_message', 'message_deleted']);

/** The sentence built from err's fields in the page's language, or null (no fields, or a code without them). */
export function builtText(err) {
  const code = err && err.code;
  return Object.hasOwn(BUILDERS, code) ? BUILDERS[code](err) : null;
}

/** The words for err ({code, message, ...fields}): see the module's comment. */
export function errorText(err) {
  const code = err && err.code;
  const built = builtText(err);
  if (built !== null) return built;
  if (OWN_WORDS.has(code)) return t(`error.${code}`);
  const message = err && err.message;
  if (lang() === ENGLISH && message) return String(message);
  return code && has(`error.${code}`) ? t(`error.${code}`) : String(message || t('error.unknown'));
}
