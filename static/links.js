// Finding links in a message's text with linkify-it (vendor/linkify-it.mjs, see vendor/README.md):
// URLs with a scheme, bare domains (example.com, www.example.org) and e-mail addresses.
// Pure: text in, ranges out; markup.js builds on it.

import { LinkifyIt } from './vendor/linkify-it.mjs';

// Only these schemes ever become a link: never javascript:, data:, file: or a scheme-relative //host.
export const LINK_SCHEMES = new Set(['http:', 'https:', 'mailto:']);

// A bare domain is a link only under these top-level domains: linkify-it knows every one, and
// then file names people write in chat (notes.md, setup.py, run.sh, lib.rs) would be links too.
// A URL with its scheme (https://example.md/) is a link under any.
export const BARE_DOMAIN_TLDS = [
  'com', 'org', 'net', 'edu', 'gov', 'info', 'biz', 'io', 'dev', 'app', 'ai', 'co',
  'cn', 'hk', 'tw', 'jp', 'kr', 'sg', 'uk', 'de', 'fr', 'eu', 'us', 'ca', 'au', 'nz', 'in', 'ru', 'br',
];

const linkify = new LinkifyIt({ fuzzyLink: true, fuzzyEmail: true })
  .tlds(BARE_DOMAIN_TLDS)
  .add('ftp:', null)
  .add('//', null);

/** The URL a link opens, if its scheme is allowed; null otherwise (a second check after linkify-it's). */
export function safeHref(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  return LINK_SCHEMES.has(parsed.protocol) ? parsed.href : null;
}

// Chinese (and Japanese) is written without spaces: "看这个https://a.com很好" holds the link
// https://a.com. linkify-it wants a space or punctuation around a link, so such characters are
// read as spaces (the same length: every index stays): a link stops where CJK text starts, and
// a host or path written in Chinese characters is linked only up to them.
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\u3000-\u303f\uff00-\uffef]/gu;

// Look-alike hosts (UTS #39, "Confusable Detection"): `pаypal.com` with a Cyrillic а reads as
// paypal.com while it opens xn--pypal-4ve.com. A simplified form of Chromium's IDN display policy
// (https://chromium.googlesource.com/chromium/src/+/main/docs/idn.md): a label of the host is shown
// as written when it is ASCII, or entirely Han, Hiragana, Katakana, Hangul or Bopomofo (and digits and
// hyphens); any other is shown in its punycode form (xn--…), the one the href holds.
const ASCII = /^[\x00-\x7f]*$/;
const EAST_ASIAN_LABEL = /^[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}\p{scx=Bopomofo}0-9-]+$/u;
// The host in a link's text: after the scheme and any user part, up to a port, path, query or fragment.
const HOST_IN_TEXT = /^((?:[a-z][a-z0-9+.-]*:\/\/|mailto:)?(?:[^@/?#\s]*@)?)([^/?#:\s]+)/i;
const LABEL_DOTS = /[.\u3002\uff0e\uff61]/; // the dots IDNA reads as dots

/** A link's text as shown: each label of its host that could pass for another in punycode (above). */
export function shownLinkText(text) {
  const found = HOST_IN_TEXT.exec(text);
  if (!found || ASCII.test(found[2])) return text;
  const [, before, host] = found;
  let ascii;
  try {
    ascii = new URL('http://' + host).hostname.split('.');
  } catch {
    return text;
  }
  const written = host.split(LABEL_DOTS);
  const shown = written.length === ascii.length
    ? written.map((label, i) => (ASCII.test(label) || EAST_ASIAN_LABEL.test(label) ? label : ascii[i])).join('.')
    : ascii.join('.');
  return before + shown + text.slice(before.length + host.length);
}

/**
 * The links in `text`, in order: [{start, end, text, href}] where text.slice(start, end) is where
 * the link is, text what it shows (shownLinkText) and href what it opens (http:, https: or mailto: only).
 */
export function findLinks(text) {
  const found = [];
  const spaced = text.replace(CJK, (ch) => ' '.repeat(ch.length));
  for (const match of linkify.match(spaced) || []) {
    const href = safeHref(match.url);
    if (href) found.push({ start: match.index, end: match.lastIndex, text: shownLinkText(match.text), href });
  }
  return found;
}
