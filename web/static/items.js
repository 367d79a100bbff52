// The items table of one cache. It holds the items by id and applies the
// event stream's changes to them; a full list read replaces them (when a
// stream opens without a Last-Event-ID to resume from, and after a `lagged`
// event).

import { ago, el, shortJSON } from './format.js';

// The table shows at most this many rows, the first in id order.
const MAX_ROWS = 500;

export class ItemsView {
  /**
   * @param {HTMLTableSectionElement} tbody
   * @param {HTMLElement} empty shown when there is no item
   * @param {HTMLElement} more says when rows are left out
   * @param {(id: string) => Promise<void>} onDelete
   */
  constructor(tbody, empty, more, onDelete) {
    this.tbody = tbody;
    this.empty = empty;
    this.more = more;
    this.onDelete = onDelete;
    this.items = new Map();
    this.partial = false;
    this.pending = null; // events seen while a list read is under way
    this.scheduled = false;
  }

  /** Starts a list read: events from now on wait for its result. */
  beginReload() {
    this.pending = [];
  }

  /** Ends a list read: its items replace ours, then the waiting events apply. */
  endReload(items, partial) {
    const waiting = this.pending ?? [];
    this.pending = null;
    this.items = new Map(items.map((it) => [it.id, it]));
    this.partial = partial;
    for (const [kind, payload] of waiting) this.apply(kind, payload, false);
    this.render();
  }

  /** Clears the table (another cache was picked). */
  reset() {
    this.items.clear();
    this.pending = null;
    this.partial = false;
    this.render();
  }

  /** Applies one event of the stream. */
  apply(kind, payload, render = true) {
    if (this.pending) {
      this.pending.push([kind, payload]);
      return;
    }
    const old = this.items.get(payload.id);
    switch (kind) {
      case 'created':
        this.items.set(payload.id, { ...payload, syncedAt: null, pendingDelete: false, changed: true });
        break;
      case 'updated':
      case 'terminal':
        // The list read may be newer than an event that waited for it; a
        // different createdAt is a new item under an old id.
        if (old && old.createdAt === payload.createdAt && old.version > payload.version) return;
        // An update is the answer of a sync, so the item was just synced.
        this.items.set(payload.id, {
          ...payload,
          syncedAt: payload.updatedAt,
          pendingDelete: old?.pendingDelete ?? false,
          changed: true,
        });
        break;
      case 'deleted':
      case 'evicted':
        this.items.delete(payload.id);
        break;
      default:
        return;
    }
    if (render) this.schedule();
  }

  /** Puts an item as an API call returned it. */
  upsert(item) {
    const old = this.items.get(item.id);
    if (old && old.createdAt === item.createdAt && old.version > item.version) return;
    this.items.set(item.id, { ...item, changed: true });
    this.schedule();
  }

  // Renders once per frame however many events arrive.
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  render() {
    const ids = [...this.items.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const shown = ids.slice(0, MAX_ROWS);
    const byId = new Map([...this.tbody.rows].map((tr) => [tr.dataset.id, tr]));
    const rows = shown.map((id) => {
      const it = this.items.get(id);
      const existing = byId.get(id);
      if (existing && !it.changed) return existing;
      it.changed = false;
      const tr = this.row(it);
      if (existing) tr.classList.add('flash');
      return tr;
    });
    this.tbody.replaceChildren(...rows);
    this.empty.hidden = ids.length > 0;
    const hidden = ids.length - shown.length;
    this.more.hidden = hidden <= 0 && !this.partial;
    this.more.textContent = this.partial
      ? `Showing the first ${shown.length} items in id order; the cache holds more.`
      : `Showing the first ${shown.length} of ${ids.length} items.`;
  }

  row(it) {
    const terminal = it.terminal
      ? el('span', { class: 'pill yes', text: 'yes' })
      : el('span', { class: 'pill', text: 'no' });
    const del = el('button', {
      type: 'button',
      class: 'danger',
      text: it.pendingDelete ? 'Deleting…' : 'Delete',
      disabled: it.pendingDelete,
      'aria-label': `Delete item ${it.id}`,
      onclick: (e) => this.confirmDelete(e.currentTarget, it.id),
    });
    return el(
      'tr',
      { dataset: { id: it.id }, class: it.pendingDelete ? 'pending' : undefined },
      el('td', { class: 'id', dataset: { label: 'Id' }, text: it.id }),
      el('td', { class: 'data', dataset: { label: 'Data', col: 'data' }, title: shortJSON(it.data, 2000), text: shortJSON(it.data) }),
      el('td', { dataset: { label: 'Terminal', col: 'terminal' } }, terminal),
      el('td', { class: 'num', dataset: { label: 'Version', col: 'version' }, text: String(it.version) }),
      el('td', { dataset: { label: 'Last synced', col: 'synced', time: it.syncedAt ?? '' }, title: it.syncedAt ?? '', text: ago(it.syncedAt) }),
      el('td', { class: 'actions' }, del),
    );
  }

  // Deleting takes two clicks: the first arms the button for a few seconds.
  async confirmDelete(button, id) {
    if (!button.dataset.armed) {
      button.dataset.armed = '1';
      button.textContent = 'Confirm';
      setTimeout(() => {
        if (button.isConnected && button.dataset.armed) {
          delete button.dataset.armed;
          button.textContent = 'Delete';
        }
      }, 4000);
      return;
    }
    button.disabled = true;
    button.textContent = 'Deleting…';
    try {
      await this.onDelete(id);
    } catch {
      button.disabled = false;
      delete button.dataset.armed;
      button.textContent = 'Delete';
    }
  }

  /** Refreshes the "… ago" texts. */
  tick() {
    for (const td of this.tbody.querySelectorAll('td[data-time]')) {
      td.textContent = ago(td.dataset.time || null);
    }
  }
}
