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

/**
 * The links in `text`, in order: [{start, end, text, href}] where text.slice(start, end) is what
 * is shown and href what it opens (http:, https: or mailto: only).
 */
export function findLinks(text) {
  const found = [];
  const spaced = text.replace(CJK, (ch) => ' '.repeat(ch.length));
  for (const match of linkify.match(spaced) || []) {
    const href = safeHref(match.url);
    if (href) found.push({ start: match.index, end: match.lastIndex, text: match.text, href });
  }
  return found;
}
