// The cache cards: config, counts and rates of every cache. Rates are worked
// out here from successive polls of GET /v1/caches, over a sliding window;
// the same polls feed each card's sparkline of the last ten minutes.

import { ago, count, el, rate } from './format.js';
import { Series, sparkline } from './spark.js';

// Rates are measured over the samples of about the last 20 seconds.
const WINDOW_MS = 20_000;

export class CachesView {
  /**
   * @param {HTMLElement} list the <ul> of cards
   * @param {HTMLElement} empty shown when there is no cache
   * @param {(name: string) => void} onSelect called when a cache is picked
   */
  constructor(list, empty, onSelect) {
    this.list = list;
    this.empty = empty;
    this.onSelect = onSelect;
    this.samples = new Map(); // name -> [{t, syncs, errors}]
    this.series = new Map(); // name -> Series, for the sparkline
    this.selected = null;
    this.caches = [];
  }

  /** Takes a fresh poll of every cache, taken at time t (ms). */
  update(caches, t = Date.now()) {
    const names = new Set(caches.map((c) => c.name));
    for (const name of this.samples.keys()) {
      if (!names.has(name)) this.samples.delete(name);
    }
    for (const name of this.series.keys()) {
      if (!names.has(name)) this.series.delete(name);
    }
    for (const c of caches) {
      const s = this.samples.get(c.name) ?? [];
      s.push({ t, syncs: c.stats.syncs, errors: c.stats.syncErrors });
      while (s.length > 2 && t - s[1].t >= WINDOW_MS) s.shift();
      this.samples.set(c.name, s);
      if (!this.series.has(c.name)) this.series.set(c.name, new Series());
      this.series.get(c.name).sample(t, c.stats.syncs, c.stats.syncErrors);
    }
    this.caches = caches;
    this.render();
  }

  /**
   * Starts the sparkline of a cache this page just registered from zero:
   * its counters were 0 at time t, so its first syncs are drawn too.
   */
  registered(name, t = Date.now()) {
    const s = new Series();
    s.sample(t, 0, 0);
    this.series.set(name, s);
  }

  /** The cache of this name as last polled, or undefined. */
  get(name) {
    return this.caches.find((c) => c.name === name);
  }

  /** Marks a cache as the one whose items are shown. */
  select(name) {
    this.selected = name;
    this.render();
  }

  /** {syncs, errors} per second for a cache, null before two samples. */
  rates(name) {
    const s = this.samples.get(name);
    if (!s || s.length < 2) return { syncs: null, errors: null };
    const a = s[0];
    const b = s[s.length - 1];
    const secs = (b.t - a.t) / 1000;
    // A counter that went down means the cache was registered again.
    const d = (x, y) => (y >= x ? (y - x) / secs : null);
    return { syncs: d(a.syncs, b.syncs), errors: d(a.errors, b.errors) };
  }

  render() {
    this.empty.hidden = this.caches.length > 0;
    const focused = document.activeElement?.closest?.('.card')?.dataset.name;
    const cards = this.caches.map((c) => this.card(c));
    this.list.replaceChildren(...cards);
    if (focused) this.list.querySelector(`.card[data-name="${CSS.escape(focused)}"] button`)?.focus();
  }

  // "2 failed · 1 expired" when some items were given up, else nothing.
  givenUp(c) {
    const by = c.stats.itemsByState ?? {};
    const parts = ['failed', 'expired'].filter((k) => by[k] > 0).map((k) => `${count(by[k])} ${k}`);
    return parts.length ? el('p', { class: 'given-up', text: `Items given up: ${parts.join(' · ')}` }) : null;
  }

  card(c) {
    const st = c.stats;
    const r = this.rates(c.name);
    const stat = (label, value, extra, cls) =>
      el('div', {}, el('dt', { text: label }), el('dd', { class: cls }, value, extra ? ' ' : null, extra));
    return el(
      'li',
      { class: 'card', dataset: { name: c.name }, 'aria-current': c.name === this.selected ? 'true' : 'false' },
      el(
        'div',
        { class: 'card-title' },
        el('button', {
          type: 'button',
          text: c.name,
          title: `Show the items of ${c.name}`,
          onclick: () => this.onSelect(c.name),
        }),
        c.paused ? el('span', { class: 'badge paused', text: 'paused' }) : null,
        el('span', { class: 'muted', text: `every ${c.resyncPeriod}` }),
      ),
      el('p', { class: 'webhook', title: 'Webhook URL', text: c.webhook.url }),
      el(
        'dl',
        { class: 'stats' },
        stat('Items', count(st.size)),
        stat('Syncs', count(st.syncs), el('span', { class: 'rate', text: rate(r.syncs) })),
        stat('Errors', count(st.syncErrors), el('span', { class: 'rate', text: rate(r.errors) }),
          st.syncErrors > 0 ? 'bad' : undefined),
        stat('In flight', count(st.inFlight)),
        stat('Queued', count(st.enqueued)),
        stat('Last sync', el('span', { text: ago(st.lastSyncAt), dataset: { time: st.lastSyncAt ?? '' } })),
      ),
      el('div', { class: 'spark' },
        sparkline(this.series.get(c.name) ?? new Series(), c.name),
        el('span', { class: 'legend', 'aria-hidden': 'true' },
          el('span', { class: 'key syncs', text: 'syncs' }), ' ',
          el('span', { class: 'key errors', text: 'errors' }), ' · 10 min')),
      this.givenUp(c),
      st.lastError ? el('p', { class: 'last-error', text: `Last error: ${st.lastError}` }) : null,
    );
  }
}
