// The event stream of one cache, read with fetch() instead of EventSource so
// that it can carry the Authorization header. It reconnects after a dropped
// connection or a failed request, backing off, and resumes with
// Last-Event-ID: the server first replays what was missed, or sends
// `lagged` when it no longer can, and then the list is read again.

import { authHeaders, authRequired, eventsURL, tokenOf } from './api.js';
import { SSEParser } from './sse.js';

const KINDS = new Set(['created', 'updated', 'terminal', 'failed', 'expired', 'deleted', 'evicted']);
// The reconnection delay until the server sends its own (`retry:`).
const RETRY_MS = 2000;
// Failures in a row double the delay, up to this.
const MAX_DELAY_MS = 30_000;
// The server sends a comment every 15 s on an idle stream; this long a
// silence means the connection died without telling us.
const SILENCE_MS = 45_000;

/** The delay a Retry-After header asks for, in ms (0 if none). */
function retryAfterMs(res) {
  const v = res.headers.get('Retry-After');
  if (!v) return 0;
  if (/^[0-9]+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? 0 : Math.max(0, t - Date.now());
}

export class ItemStream {
  /**
   * @param {string} cache
   * @param {{event: (kind: string, payload: object) => void,
   *          resync: () => void,
   *          state: (state: 'connecting'|'live'|'offline') => void}} on
   */
  constructor(cache, on) {
    this.cache = cache;
    this.on = on;
    this.lastId = ''; // the last event id seen, for Last-Event-ID
    this.retryMs = RETRY_MS;
    this.ctl = null; // aborts the current request
    this.timer = null;
    this.wake = null; // ends the current wait early
    this.closed = false;
    this.running = false;
  }

  open() {
    if (this.closed || this.running) return;
    this.running = true;
    this.run().finally(() => {
      this.running = false;
    });
  }

  close() {
    this.closed = true;
    this.ctl?.abort();
    clearTimeout(this.timer);
    this.wake?.();
  }

  async run() {
    let failures = 0;
    while (!this.closed) {
      this.on.state('connecting');
      const r = await this.connect();
      if (this.closed) return;
      if (r.unauthorized) {
        // The page asks for a token and opens a new stream with it.
        this.on.state('offline');
        return;
      }
      let delay = this.retryMs;
      if (r.opened) {
        failures = 0;
        this.on.state('connecting');
      } else {
        failures++;
        delay = Math.min(MAX_DELAY_MS, this.retryMs * 2 ** (failures - 1));
        this.on.state('offline');
      }
      // Up to a quarter more, so that many pages do not come back at once.
      delay = Math.max(delay * (1 + Math.random() / 4), r.retryAfter ?? 0);
      await this.sleep(delay);
    }
  }

  sleep(ms) {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    }).finally(() => {
      this.wake = null;
    });
  }

  /**
   * One connection, until it ends. Answers {opened} (whether events were
   * flowing), {unauthorized} after a 401, and the server's Retry-After.
   */
  async connect() {
    const ctl = new AbortController();
    this.ctl = ctl;
    const headers = authHeaders('text/event-stream');
    const sentToken = tokenOf(headers);
    if (this.lastId) headers['Last-Event-ID'] = this.lastId;
    let res;
    try {
      res = await fetch(eventsURL(this.cache), { headers, cache: 'no-store', signal: ctl.signal });
    } catch {
      return { opened: false };
    }
    const type = res.headers.get('Content-Type') ?? '';
    if (!res.ok || !res.body || !type.startsWith('text/event-stream')) {
      res.body?.cancel().catch(() => {});
      // (A 401 to a token that has since been replaced is just retried.)
      if (res.status === 401 && authRequired(sentToken)) return { unauthorized: true };
      // An id the server refuses: start afresh, from a full list read.
      if (res.status === 400) this.lastId = '';
      return { opened: false, retryAfter: retryAfterMs(res) };
    }

    this.on.state('live');
    // A resumed stream replays what was missed (or says `lagged`); a new
    // one starts from now, so the list is read after subscribing.
    if (!this.lastId) this.on.resync();

    const parser = new SSEParser({
      event: (e) => this.dispatch(e),
      retry: (ms) => {
        this.retryMs = Math.min(MAX_DELAY_MS, Math.max(500, ms));
      },
    });
    parser.lastId = this.lastId;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let silence = setTimeout(() => ctl.abort(), SILENCE_MS);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        clearTimeout(silence);
        silence = setTimeout(() => ctl.abort(), SILENCE_MS);
        parser.feed(decoder.decode(value, { stream: true }));
        if (this.closed) break;
      }
      parser.feed(decoder.decode());
    } catch {
      // Aborted (closed, or silent too long) or the connection broke.
    } finally {
      clearTimeout(silence);
      parser.end();
      if (!ctl.signal.aborted) ctl.abort();
    }
    return { opened: true };
  }

  dispatch(e) {
    if (this.closed) return;
    if (e.id) this.lastId = e.id;
    if (e.type === 'lagged') {
      this.on.resync();
      return;
    }
    if (!KINDS.has(e.type)) return;
    let payload;
    try {
      payload = JSON.parse(e.data);
    } catch {
      return; // not this API's event
    }
    this.on.event(e.type, payload);
  }
}
