// The emoji the picker and :shortcode: completion offer: emojibase's data (vendor/emojibase/emoji.json,
// trimmed by tools/vendor_emoji.py), fetched from this server on first use, never on page load,
// and searched by English and Chinese keywords and shortcodes. Searching is pure.
//
// Emoji = {char, group, label: {en, zh}, words: [lower-case English words and tags],
//          zh: [Chinese label and tags], shortcodes: [lower-case names without colons]}

// emojibase's groups by number, as the catalogue keys of their names (2, skin tones and hair,
// is left out of the data).
export const GROUPS = ['emoji.group.smileys', 'emoji.group.people', null, 'emoji.group.animals', 'emoji.group.food',
  'emoji.group.travel', 'emoji.group.activities', 'emoji.group.objects', 'emoji.group.symbols', 'emoji.group.flags'];

const DATA_URL = new URL('./vendor/emojibase/emoji.json', import.meta.url);

let loading = null;

function toEmoji([char, group, en, enTags, zh, zhTags, shortcodes]) {
  const words = `${en} ${enTags}`.toLowerCase().split(/\s+/).filter(Boolean);
  return {
    char, group, label: { en, zh: zh || en }, words, labelText: en.toLowerCase(),
    zh: [zh, ...zhTags.split(' ')].filter(Boolean), shortcodes: shortcodes.split(' ').filter(Boolean),
  };
}

/** All emoji, in emojibase's order; fetched once (a failed fetch is tried again at the next call). */
export function loadEmoji() {
  if (!loading) {
    loading = fetch(DATA_URL)
      .then((response) => {
        if (!response.ok) throw new Error(`emoji data: HTTP ${response.status}`);
        return response.json();
      })
      .then((data) => data.emoji.map(toEmoji))
      .catch((err) => {
        loading = null;
        throw err;
      });
  }
  return loading;
}

// How well one search term fits an emoji: lower is better, Infinity is no fit.
function termScore(e, term) {
  if (e.shortcodes.includes(term)) return 0;
  if (e.shortcodes.some((s) => s.startsWith(term))) return 1;
  if (e.words.some((w) => w.startsWith(term))) return 2;
  if (e.zh.some((w) => w.includes(term))) return 2;
  if (e.labelText.includes(term)) return 3;
  return Infinity;
}

/**
 * The emoji whose shortcodes, English words or Chinese keywords fit every word of `query`
 * ("thumbs up", "笑", "smi"), best first (an exact shortcode, a shortcode's start, a word's
 * start or a Chinese keyword, then anywhere in the English name); at most `limit`.
 */
export function searchEmoji(all, query, limit = Infinity) {
  const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!terms.length) return [];
  const scored = [];
  for (const e of all) {
    const score = Math.max(...terms.map((term) => termScore(e, term)));
    if (score !== Infinity) scored.push([score, scored.length, e]);
  }
  scored.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return scored.slice(0, limit).map(([, , e]) => e);
}

/** The emoji whose shortcode is exactly `name` (without colons, any case), or null. */
export function byShortcode(all, name) {
  const lower = name.toLowerCase();
  return all.find((e) => e.shortcodes.includes(lower)) || null;
}

/** The name of an emoji in the page's language ("zh-CN" or "en"). */
export function emojiLabel(e, language) {
  return language === 'zh-CN' ? e.label.zh : e.label.en;
}
