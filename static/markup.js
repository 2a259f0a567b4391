// The small markup of a message's text, parsed into a tree (pure: no DOM; body.js builds the
// elements). What is understood, close to what chat apps and Markdown do:
//   ```code block```   text between two fences, shown as written: a fence is a run of three or
//                      more backticks, closed by the next run of the same length (a newline right
//                      after the opening fence and right before the closing one is dropped)
//   > quote            a line starting with ">"; consecutive ones make one quote
//   `inline code`      a run of backticks up to the next run of the same length (CommonMark)
//   **bold**           two asterisks
//   *italic* _italic_  one asterisk or underscore; an underscore only at a word's edge, so
//                      snake_case_names stay as they are
//   links              URLs and e-mail addresses (links.js), also inside bold, italic and quotes
// Markup inside code stays literal; unmatched marks stay as text. Nothing here ever becomes HTML.
//
// Block  = {type: 'paragraph' | 'quote', inline: Inline[]} | {type: 'code', text}
// Inline = {type: 'text' | 'code', text} | {type: 'link', text, href} | {type: 'bold' | 'italic', children: Inline[]}

import { findLinks } from './links.js';

const FENCE = '```';
const QUOTE_LINE = /^>[ \t]?/;
const CODE_SLOT = '\uFFFC'; // stands for an inline code span while emphasis is parsed (positions are kept)
const SPACE = /\s/u;
const WORD_CHAR = /[\p{L}\p{N}]/u;

/** The blocks of a message's text. */
export function parseMarkup(text) {
  const blocks = [];
  let rest = text;
  for (let fence = nextFence(rest); fence; fence = nextFence(rest)) {
    const { open, close, ticks } = fence;
    lineBlocks(rest.slice(0, open).replace(/\n$/, ''), blocks);
    const code = rest.slice(open + ticks, close).replace(/^\n/, '').replace(/\n$/, '');
    blocks.push({ type: 'code', text: code });
    rest = rest.slice(close + ticks).replace(/^\n/, '');
  }
  lineBlocks(rest, blocks);
  return blocks;
}

// The first run of three or more backticks that a later run of the same length closes:
// {open, close, ticks}, or null. A run nothing closes is text (codeSpans leaves it as typed too).
function nextFence(text) {
  for (let open = text.indexOf(FENCE); open >= 0;) {
    const ticks = runLength(text, open);
    const close = findRun(text, '`', ticks, open + ticks);
    if (close >= 0) return { open, close, ticks };
    open = text.indexOf(FENCE, open + ticks);
  }
  return null;
}

// Paragraphs and quotes: consecutive lines of the same kind make one block.
function lineBlocks(text, blocks) {
  if (!text) return;
  let kind = null;
  let lines = [];
  const flush = () => {
    if (lines.length) blocks.push({ type: kind, inline: parseInline(lines.join('\n')) });
    lines = [];
  };
  for (const line of text.split('\n')) {
    const quoted = QUOTE_LINE.test(line);
    const lineKind = quoted ? 'quote' : 'paragraph';
    if (lineKind !== kind) flush();
    kind = lineKind;
    lines.push(quoted ? line.replace(QUOTE_LINE, '') : line);
  }
  flush();
}

/** The inline content of one paragraph or quote. */
export function parseInline(text) {
  const { flat, codes } = codeSpans(text);
  const guarded = linkRanges(flat, codes);
  return linkified(emphasis(flat, codes, guarded));
}

// Inline code spans out of the text: `flat` has CODE_SLOT where each was, `codes` maps its index.
function codeSpans(text) {
  let flat = '';
  const codes = new Map();
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('`', i);
    if (open < 0) break;
    const ticks = runLength(text, open);
    const close = findRun(text, '`', ticks, open + ticks);
    if (close < 0) { // no closing run: the backticks are text
      flat += text.slice(i, open + ticks);
      i = open + ticks;
      continue;
    }
    flat += text.slice(i, open);
    codes.set(flat.length, { type: 'code', text: trimCode(text.slice(open + ticks, close)) });
    flat += CODE_SLOT;
    i = close + ticks;
  }
  return { flat: flat + text.slice(i), codes };
}

// CommonMark: one space each side is dropped when both are there, so `` `x` `` can show backticks.
function trimCode(code) {
  return code.length > 2 && code.startsWith(' ') && code.endsWith(' ') && code.trim() ? code.slice(1, -1) : code;
}

function runLength(text, at) {
  let n = 0;
  while (text[at + n] === text[at]) n++;
  return n;
}

// The index of the next run of exactly `n` of `ch` from `from`, or -1.
function findRun(text, ch, n, from) {
  for (let i = text.indexOf(ch, from); i >= 0; i = text.indexOf(ch, i)) {
    const len = runLength(text, i);
    if (len === n) return i;
    i += len;
  }
  return -1;
}

// Where URLs are in the text outside code: marks inside them (https://x.org/a_b_c) are no emphasis.
// Marks at a URL's end may close emphasis (**https://x.org/a**): they stay outside; unmatched,
// they rejoin the URL's text and linkify-it finds it whole again (linkified()).
const TRAILING_MARKS = /[*_]+$/;

function linkRanges(flat, codes) {
  const ranges = [];
  let start = 0;
  for (const at of [...codes.keys(), flat.length]) {
    const part = flat.slice(start, at);
    for (const link of findLinks(part)) {
      const marks = (part.slice(link.start, link.end).match(TRAILING_MARKS) || [''])[0].length;
      ranges.push([start + link.start, start + link.end - marks]);
    }
    start = at + 1;
  }
  return ranges;
}

// The code point before/at index i, as a one-character string ('' at the ends).
function charBefore(text, i) {
  return i > 0 ? String.fromCodePoint(text.codePointAt(i >= 2 && /[\uDC00-\uDFFF]/.test(text[i - 1]) ? i - 2 : i - 1)) : '';
}

function charAt(text, i) {
  return i < text.length ? String.fromCodePoint(text.codePointAt(i)) : '';
}

// **bold**, *italic*, _italic_: a delimiter run opens when text follows it and closes when text
// precedes it (an underscore also needs no letter or digit on the outer side); a closer pairs
// with the nearest open run of the same marks, and openers left inside stay literal.
function emphasis(flat, codes, guarded) {
  const out = [];
  const stack = []; // {mark, at}: an open run, out[at] its text node until it is matched
  let buffer = '';
  const flush = () => {
    if (buffer) out.push({ type: 'text', text: buffer });
    buffer = '';
  };
  const inLink = (i) => guarded.some(([from, to]) => i >= from && i < to);
  let i = 0;
  while (i < flat.length) {
    if (codes.has(i)) {
      flush();
      out.push(codes.get(i));
      i++;
      continue;
    }
    const ch = flat[i];
    if ((ch !== '*' && ch !== '_') || inLink(i)) {
      buffer += ch;
      i++;
      continue;
    }
    const run = runLength(flat, i);
    const mark = flat.slice(i, i + run);
    if (run > (ch === '*' ? 2 : 1)) { // *** or __: text
      buffer += mark;
      i += run;
      continue;
    }
    const before = charBefore(flat, i);
    const after = charAt(flat, i + run);
    const underscore = ch === '_';
    const canOpen = after !== '' && !SPACE.test(after) && !(underscore && WORD_CHAR.test(before));
    const canClose = before !== '' && !SPACE.test(before) && !(underscore && WORD_CHAR.test(after));
    const opener = canClose ? stack.findLastIndex((s) => s.mark === mark) : -1;
    if (opener >= 0 && (buffer || stack[opener].at < out.length - 1)) {
      flush();
      const { at } = stack[opener];
      out[at] = { type: run === 2 ? 'bold' : 'italic', children: out.splice(at + 1) };
      stack.length = opener;
    } else if (canOpen) {
      flush();
      stack.push({ mark, at: out.length });
      out.push({ type: 'text', text: mark });
    } else {
      buffer += mark;
    }
    i += run;
  }
  flush();
  return out;
}

// Adjacent text nodes joined, and the links in each text found (links.js).
function linkified(nodes) {
  const joined = [];
  for (const node of nodes) {
    const last = joined[joined.length - 1];
    if (node.type === 'text' && last && last.type === 'text') last.text += node.text;
    else joined.push(node.children ? { ...node, children: linkified(node.children) } : { ...node });
  }
  return joined.flatMap((node) => (node.type === 'text' ? splitLinks(node.text) : [node]));
}

function splitLinks(text) {
  const parts = [];
  let at = 0;
  for (const link of findLinks(text)) {
    if (link.start > at) parts.push({ type: 'text', text: text.slice(at, link.start) });
    parts.push({ type: 'link', text: link.text, href: link.href });
    at = link.end;
  }
  if (at < text.length) parts.push({ type: 'text', text: text.slice(at) });
  return parts;
}
