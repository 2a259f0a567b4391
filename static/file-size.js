// A number of bytes as people read it, in the page's language: "820 B", "14 KB", "3.2 MB".

import { formatNumber, t } from './i18n.js';

const UNITS = ['upload.size_b', 'upload.size_kb', 'upload.size_mb', 'upload.size_gb'];
const STEP = 1024;
// Intl.NumberFormat's default: it shows at most this many decimals.
const DECIMALS_MAX = 3;

/** `bytes` (a whole number ≥ 0) with the largest unit that keeps it ≥ 1; one decimal below 10, and
 * `extra` decimals more (at most DECIMALS_MAX in all; trailing zeros are not shown). */
export function fileSize(bytes, extra = 0) {
  let n = bytes;
  let unit = 0;
  while (n >= STEP && unit < UNITS.length - 1) {
    n /= STEP;
    unit += 1;
  }
  const decimals = unit === 0 ? 0 : Math.min((n >= 10 ? 0 : 1) + extra, DECIMALS_MAX);
  const scale = 10 ** decimals;
  return t(UNITS[unit], { n: formatNumber(Math.round(n * scale) / scale) });
}

/** [a, b] as fileSize shows them, with as many more decimals as it takes for sizes that differ
 * to read differently, then in bytes: "the file is 20 KB; at most 20 KB" would contradict itself. */
export function fileSizes(a, b) {
  for (let extra = 0; extra <= DECIMALS_MAX; extra += 1) {
    const shown = [fileSize(a, extra), fileSize(b, extra)];
    if (a === b || shown[0] !== shown[1]) return shown;
  }
  return [a, b].map((n) => t(UNITS[0], { n: formatNumber(n) }));
}
