// A number of bytes as people read it, in the page's language: "820 B", "14 KB", "3.2 MB".

import { formatNumber, t } from './i18n.js';

const UNITS = ['upload.size_b', 'upload.size_kb', 'upload.size_mb', 'upload.size_gb'];
const STEP = 1024;

/** `bytes` (a whole number ≥ 0) with the largest unit that keeps it ≥ 1; one decimal below 10. */
export function fileSize(bytes) {
  let n = bytes;
  let unit = 0;
  while (n >= STEP && unit < UNITS.length - 1) {
    n /= STEP;
    unit += 1;
  }
  const shown = unit === 0 || n >= 10 ? Math.round(n) : Math.round(n * 10) / 10;
  return t(UNITS[unit], { n: formatNumber(shown) });
}
