// The sparkline of a cache card: its syncs and sync errors over the last
// ten minutes. The page samples the cache's counters (stats.syncs and
// stats.syncErrors of GET /v1/caches) as it polls, keeps one point every
// SAMPLE_MS in a ring of bounded size, and draws the increase between
// successive points as two lines of an inline SVG, built with DOM calls
// (the Content-Security-Policy allows no inline style or script, and the
// page loads nothing from elsewhere).

// One point every this many ms, at most.
export const SAMPLE_MS = 5000;
// The span the line covers.
export const WINDOW_MS = 10 * 60_000;
// Points kept: the window's worth, and one before it to measure from.
export const CAPACITY = Math.ceil(WINDOW_MS / SAMPLE_MS) + 1;

// The SVG namespace (a name, not a resource).
const SVG = 'http://www.w3.org/2000/svg';
const W = 300;
const H = 32;

/** A ring buffer of at most capacity values: push drops the oldest. */
export class Ring {
  constructor(capacity) {
    this.capacity = capacity;
    this.buf = new Array(capacity);
    this.start = 0;
    this.length = 0;
  }

  push(v) {
    if (this.length < this.capacity) {
      this.buf[(this.start + this.length) % this.capacity] = v;
      this.length++;
    } else {
      this.buf[this.start] = v;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** The latest value, or undefined. */
  last() {
    return this.length ? this.buf[(this.start + this.length - 1) % this.capacity] : undefined;
  }

  /** The values, oldest first. */
  toArray() {
    const out = [];
    for (let i = 0; i < this.length; i++) out.push(this.buf[(this.start + i) % this.capacity]);
    return out;
  }
}

/** The samples of one cache's counters. */
export class Series {
  constructor() {
    this.ring = new Ring(CAPACITY);
  }

  /** Takes the counters as read at time t (ms); answers whether a point was kept. */
  sample(t, syncs, errors) {
    const last = this.ring.last();
    if (last && t - last.t < SAMPLE_MS) return false;
    this.ring.push({ t, syncs, errors });
    return true;
  }

  /**
   * The increase of each counter between successive points of the window
   * ending at now: [{t, syncs, errors}]. A counter that went down (the cache
   * was registered again, or the server restarted) counts from zero.
   */
  deltas(now = Date.now()) {
    const pts = this.ring.toArray();
    const out = [];
    for (let i = 1; i < pts.length; i++) {
      const a = pts[i - 1];
      const b = pts[i];
      if (now - b.t > WINDOW_MS) continue;
      const d = (x, y) => (y >= x ? y - x : y);
      out.push({ t: b.t, syncs: d(a.syncs, b.syncs), errors: d(a.errors, b.errors) });
    }
    return out;
  }
}

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/**
 * The sparkline of a series: an <svg role="img"> whose label says the
 * totals of the window, with a line of syncs and one of errors.
 */
export function sparkline(series, name, now = Date.now()) {
  const ds = series.deltas(now);
  const syncs = ds.reduce((n, d) => n + d.syncs, 0);
  const errors = ds.reduce((n, d) => n + d.errors, 0);
  const label = ds.length === 0
    ? `Syncs of ${name} over the last 10 minutes: measuring…`
    : `Over the last 10 minutes: ${syncs} ${syncs === 1 ? 'sync' : 'syncs'}, ${errors} sync ${errors === 1 ? 'error' : 'errors'}`;
  const svg = svgEl('svg', {
    class: 'sparkline',
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-label': label,
    preserveAspectRatio: 'none',
  });
  svg.dataset.syncs = String(syncs);
  svg.dataset.errors = String(errors);
  svg.dataset.points = String(ds.length);
  const title = svgEl('title', {});
  title.textContent = label;
  svg.append(title, svgEl('line', { class: 'base', x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5 }));
  if (ds.length === 0) return svg;
  const max = Math.max(1, ...ds.map((d) => Math.max(d.syncs, d.errors)));
  const x = (t) => (W * (1 - (now - t) / WINDOW_MS)).toFixed(1);
  const y = (v) => (H - 1 - ((H - 3) * v) / max).toFixed(1);
  const line = (key, cls) => {
    // A lone point draws as a short step so that it shows.
    const pts = ds.length === 1
      ? [`${(x(ds[0].t) - 2).toFixed(1)},${y(ds[0][key])}`, `${x(ds[0].t)},${y(ds[0][key])}`]
      : ds.map((d) => `${x(d.t)},${y(d[key])}`);
    return svgEl('polyline', { class: cls, points: pts.join(' ') });
  };
  // The latest values as dots, so that a young series shows.
  const end = ds[ds.length - 1];
  const dot = (key, cls) => svgEl('circle', { class: `last ${cls}`, cx: x(end.t), cy: y(end[key]), r: 2 });
  svg.append(line('syncs', 'syncs'), line('errors', 'errors'), dot('syncs', 'syncs'), dot('errors', 'errors'));
  return svg;
}
