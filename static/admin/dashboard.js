// The dashboard tab: the server's live figures, and connections and messages per
// minute over the last hours as two small charts (inline SVG made with DOM calls:
// no library, no third-party request). Refreshed every REFRESH_MS while shown.
import { formatNumber, has, lang, t } from '../i18n.js';
import { el, formatTime, latest, refusal } from './admin.js';

const HOURS = 6;
const REFRESH_MS = 10_000;
const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 720; // the charts' coordinate space; CSS scales them to the panel
const HEIGHT = 160;
const PAD = { left: 44, right: 8, top: 10, bottom: 22 };

const FIGURES = [ // [key, how it is shown]; its label is admin.dashboard.<key>
  ['connections', count],
  ['users_online', count],
  ['rooms', count],
  ['messages_today', count],
  ['writer_commit_ms', ms],
  ['loop_lag_ms', ms],
  ['bus', (state) => (has(`admin.dashboard.bus_${state}`) ? t(`admin.dashboard.bus_${state}`) : state)],
  ['bus_latency_ms', ms],
  ['webhook_queue', count],
];
const NONE = '–'; // a figure the server does not have (no bus latency on one process)

function count(value) {
  return value === null || value === undefined ? NONE : formatNumber(value);
}

// Milliseconds below 10 with two decimals ("1.04 ms"), others whole ("12 ms"), in the page's language.
const FINE = new Intl.NumberFormat(lang(), { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const WHOLE = new Intl.NumberFormat(lang(), { maximumFractionDigits: 0 });

function ms(value) {
  if (value === null || value === undefined) return NONE;
  return t('admin.dashboard.ms', { ms: (value < 10 ? FINE : WHOLE).format(value) });
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

/** Every minute from `since` to the last whole one, with the series' value (0 where no process wrote). */
function perMinute(data, column) {
  const byMinute = new Map(data.series.map((row) => [row[0], row[column]]));
  const last = data.now - (data.now % data.minute_ms) - data.minute_ms;
  const points = [];
  for (let t = data.since; t <= last; t += data.minute_ms) points.push([t, byMinute.get(t) ?? 0]);
  return points;
}

/** A line chart of `points` ([time ms, value]) as an <svg>, with its peak and time span labelled. */
function chart(title, points, testid) {
  const top = Math.max(1, ...points.map((p) => p[1]));
  const first = points[0]?.[0] ?? 0;
  const span = Math.max(1, (points.at(-1)?.[0] ?? 0) - first);
  const x = (t) => PAD.left + ((t - first) / span) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (v / top) * (HEIGHT - PAD.top - PAD.bottom);
  const line = points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const image = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', class: 'chart', 'aria-label': title,
    'data-testid': testid },
  svg('title', {}, title),
  svg('line', { x1: PAD.left, y1: y(0), x2: WIDTH - PAD.right, y2: y(0), class: 'axis' }),
  svg('line', { x1: PAD.left, y1: y(top), x2: WIDTH - PAD.right, y2: y(top), class: 'grid' }),
  svg('text', { x: PAD.left - 6, y: y(top) + 4, 'text-anchor': 'end', class: 'label' }, formatNumber(top)),
  svg('text', { x: PAD.left - 6, y: y(0) + 4, 'text-anchor': 'end', class: 'label' }, formatNumber(0)),
  svg('text', { x: PAD.left, y: HEIGHT - 6, class: 'label' }, points.length ? formatTime(first) : ''),
  svg('text', { x: WIDTH - PAD.right, y: HEIGHT - 6, 'text-anchor': 'end', class: 'label' },
    points.length ? formatTime(points.at(-1)[0]) : ''));
  if (points.length) image.append(svg('polyline', { points: line, class: 'series' }));
  return el('figure', { class: 'chart-box' }, el('figcaption', {}, title), image);
}

function mount(panel) {
  const cards = new Map(FIGURES.map(([key]) => [key, el('dd', { dataset: { testid: `dash-${key}` } }, '…')]));
  const grid = el('dl', { class: 'figures' },
    FIGURES.map(([key]) => el('div', { class: 'figure' }, el('dt', {}, t(`admin.dashboard.${key}`)), cards.get(key))));
  const charts = el('div', { class: 'charts' });
  const status = el('p', { class: 'muted', role: 'status' });
  panel.append(el('h1', {}, t('admin.dashboard.title')), grid,
    el('p', { class: 'muted' }, t('admin.dashboard.help', { hours: formatNumber(HOURS) })), charts, status);

  const ask = latest(); // refreshed on a timer: a slow answer never draws over a newer one
  async function refresh() {
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0); // the viewer's day
    let data;
    try {
      data = await ask('GET', `/stats?hours=${HOURS}&today=${midnight.getTime()}`);
    } catch (e) {
      status.textContent = refusal(e);
      return;
    }
    for (const [key, show] of FIGURES) cards.get(key).textContent = show(data.figures[key]);
    charts.replaceChildren(
      chart(t('admin.dashboard.connections_per_minute'), perMinute(data, 1), 'chart-connections'),
      chart(t('admin.dashboard.messages_per_minute'), perMinute(data, 2), 'chart-messages'));
    status.textContent = t('admin.dashboard.updated', { time: formatTime(data.now) });
  }

  refresh();
  setInterval(() => {
    if (!panel.hidden && document.visibilityState === 'visible') refresh();
  }, REFRESH_MS);
  panel.refresh = refresh;
}

export const tab = { id: 'dashboard', title: 'admin.dashboard.title', role: 'admin', mount, show: (panel) => panel.refresh?.() };
