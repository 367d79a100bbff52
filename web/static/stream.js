// The event stream of one cache, over EventSource. The browser reconnects on
// its own (and resumes with Last-Event-ID) after a dropped connection; when
// it gives up (the server answered an error), this opens a new one later.

import { eventsURL } from './api.js';

const KINDS = ['created', 'updated', 'terminal', 'deleted', 'evicted'];
const REOPEN_MS = 3000;

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
    this.es = null;
    this.timer = null;
    this.closed = false;
  }

  open() {
    this.on.state('connecting');
    const es = new EventSource(eventsURL(this.cache));
    this.es = es;
    // Each (re)connection may have missed events: read the list again.
    es.onopen = () => {
      this.on.state('live');
      this.on.resync();
    };
    for (const kind of KINDS) {
      es.addEventListener(kind, (e) => this.on.event(kind, JSON.parse(e.data)));
    }
    es.addEventListener('lagged', () => this.on.resync());
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        this.on.state('offline');
        if (!this.closed) this.timer = setTimeout(() => this.open(), REOPEN_MS);
      } else {
        this.on.state('connecting');
      }
    };
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.es?.close();
  }
}
