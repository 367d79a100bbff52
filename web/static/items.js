// The items table of one cache. It holds the items by id and applies the
// event stream's changes to them; a full list read replaces them (when a
// stream opens without a Last-Event-ID to resume from, and after a `lagged`
// event).
//
// Each row shows the item's state as a badge with its attempts, next sync
// and last error, and the actions on it: Retry (failed and expired items),
// Edit and Delete. A filter shows the items of one state only.

import { STATES } from './api.js';
import { ago, el, shortJSON, until } from './format.js';

// The table shows at most this many rows, the first in id order.
const MAX_ROWS = 500;

// The events that carry the item as it now is.
const ITEM_EVENTS = new Set(['updated', 'terminal', 'failed', 'expired']);

/** An item's state: the API's, or, from a server without one, its terminal flag. */
export function stateOf(it) {
  if (STATES.includes(it.state)) return it.state;
  return it.terminal ? 'completed' : 'active';
}

// What a row shows besides the version and state.
const shownKey = (it) =>
  [it.terminal, it.attempts, it.lastError, it.nextSyncAt, it.syncedAt, it.expiresAt, it.pendingDelete].join('\u0000');

// The state an event means when its payload does not say.
const STATE_OF_EVENT = { failed: 'failed', expired: 'expired', terminal: 'completed' };

/**
 * The item an event of kind shows, from its payload and the item as it
 * was (old): fields the payload leaves out are worked out from the kind.
 */
function fromEvent(kind, payload, old) {
  const has = (k) => Object.hasOwn(payload, k);
  // A successful answer leaves no error behind; the older servers' events
  // (without the field) came from syncs only.
  const ok = (kind === 'updated' || kind === 'terminal') && !payload.lastError && !(payload.attempts > 0);
  const same = old && old.createdAt === payload.createdAt;
  const it = { ...payload, pendingDelete: old?.pendingDelete ?? false, changed: true };
  // Events do not carry syncedAt: a successful change of the version is
  // taken for the answer of a sync (a PATCH from elsewhere looks the same).
  // The same version again (a retry, say, or this tab's own PATCH, already
  // shown from its answer) keeps what was known.
  if (!has('syncedAt')) {
    it.syncedAt = ok && !(same && old.version === payload.version) ? payload.updatedAt : (same ? old.syncedAt ?? null : null);
  }
  const synced = ok;
  if (!has('state')) it.state = STATE_OF_EVENT[kind] ?? (payload.terminal ? 'completed' : 'active');
  if (!has('attempts')) it.attempts = synced ? 0 : (old?.attempts ?? 0);
  if (!has('lastError')) it.lastError = synced ? null : (old?.lastError ?? null);
  if (!has('nextSyncAt')) it.nextSyncAt = kind === 'updated' ? (old?.nextSyncAt ?? null) : null;
  if (!has('expiresAt')) it.expiresAt = old?.expiresAt ?? null;
  return it;
}

export class ItemsView {
  /**
   * @param {HTMLTableSectionElement} tbody
   * @param {HTMLElement} empty shown when there is no item
   * @param {HTMLElement} more says when rows are left out
   * @param {{remove: (id: string) => Promise<void>, retry: (id: string) => Promise<void>,
   *          edit: (item: object) => void}} actions
   */
  constructor(tbody, empty, more, actions) {
    this.tbody = tbody;
    this.empty = empty;
    this.more = more;
    this.actions = actions;
    this.filter = ''; // '' or one of STATES: the rows shown
    this.paused = false; // the cache is paused: nothing is scheduled
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
    const olds = this.items;
    this.items = new Map(items.map((it) => {
      const old = olds.get(it.id);
      // Rows are drawn again only when something shown changed, and
      // flash only when the item itself did (not just its schedule).
      if (!old || old.version !== it.version || old.createdAt !== it.createdAt || stateOf(old) !== stateOf(it)) {
        it.changed = true;
      } else if (shownKey(old) !== shownKey(it)) {
        it.changed = 'quiet';
      }
      return [it.id, it];
    }));
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
      case 'failed':
      case 'expired':
        // The list read may be newer than an event that waited for it; a
        // different createdAt is a new item under an old id.
        if (old && old.createdAt === payload.createdAt && old.version > payload.version) return;
        this.items.set(payload.id, fromEvent(kind, payload, old));
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

  /** Says whether the cache is paused (its active items show "paused"). */
  setPaused(paused) {
    if (paused === this.paused) return;
    this.paused = paused;
    for (const it of this.items.values()) it.changed = 'quiet';
    this.render();
  }

  /** The item with this id, or undefined. */
  get(id) {
    return this.items.get(id);
  }

  /** Shows only the items of a state ('' for all). The caller reads the list again. */
  setFilter(state) {
    this.filter = state;
    for (const it of this.items.values()) it.changed = true;
    this.render();
  }

  render() {
    const f = this.filter;
    const ids = [...this.items.keys()]
      .filter((id) => !f || stateOf(this.items.get(id)) === f)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const shown = ids.slice(0, MAX_ROWS);
    const byId = new Map([...this.tbody.rows].map((tr) => [tr.dataset.id, tr]));
    const rows = shown.map((id) => {
      const it = this.items.get(id);
      const existing = byId.get(id);
      if (existing && !it.changed) return existing;
      const quiet = it.changed === 'quiet';
      it.changed = false;
      const tr = this.row(it);
      if (existing && !quiet) tr.classList.add('flash');
      return tr;
    });
    // Keeps the focus on the row's button it was on when the row is redrawn.
    const focused = document.activeElement;
    const focusRow = focused?.closest?.('tr')?.dataset.id;
    const focusAction = focused?.dataset?.action;
    this.tbody.replaceChildren(...rows);
    if (focusRow && focusAction && !this.tbody.contains(focused)) {
      const sel = `tr[data-id="${CSS.escape(focusRow)}"] button[data-action="${focusAction}"]`;
      (this.tbody.querySelector(sel) ?? this.tbody.querySelector(`tr[data-id="${CSS.escape(focusRow)}"] button`))?.focus();
    }
    this.empty.hidden = ids.length > 0;
    this.empty.textContent = f ? `No ${f} items.` : 'No items yet.';
    const hidden = ids.length - shown.length;
    this.more.hidden = hidden <= 0 && !this.partial;
    this.more.textContent = this.partial
      ? `Showing the first ${shown.length} items in id order; the cache holds more.`
      : `Showing the first ${shown.length} of ${ids.length} items.`;
  }

  row(it) {
    const state = stateOf(it);
    const terminal = it.terminal
      ? el('span', { class: 'pill yes', text: 'yes' })
      : el('span', { class: 'pill', text: 'no' });
    const del = el('button', {
      type: 'button',
      class: 'danger',
      text: it.pendingDelete ? 'Deleting…' : 'Delete',
      disabled: it.pendingDelete,
      'aria-label': `Delete item ${it.id}`,
      dataset: { action: 'delete' },
      onclick: (e) => this.confirmDelete(e.currentTarget, it.id),
    });
    const retry = (state === 'failed' || state === 'expired') && !it.pendingDelete
      ? el('button', {
        type: 'button',
        class: 'secondary small',
        text: 'Retry',
        'aria-label': `Retry item ${it.id}`,
        dataset: { action: 'retry' },
        onclick: (e) => this.retry(e.currentTarget, it.id),
      })
      : null;
    const edit = it.pendingDelete
      ? null
      : el('button', {
        type: 'button',
        class: 'secondary small',
        text: 'Edit',
        'aria-label': `Edit item ${it.id}`,
        'aria-haspopup': 'dialog',
        dataset: { action: 'edit' },
        onclick: () => this.actions.edit(this.items.get(it.id) ?? it),
      });
    const lastError = it.lastError ?? null;
    const expires = it.expiresAt ? `; expires ${new Date(it.expiresAt).toLocaleString()}` : '';
    return el(
      'tr',
      { dataset: { id: it.id, state }, class: it.pendingDelete ? 'pending' : undefined },
      el('td', { class: 'id', dataset: { label: 'Id' }, title: it.id, text: it.id }),
      el('td', { dataset: { label: 'State', col: 'state' } },
        el('span', { class: `badge state-${state}`, text: state, title: `${state}${expires}` })),
      el('td', { class: 'data', dataset: { label: 'Data', col: 'data' }, title: shortJSON(it.data, 2000), text: shortJSON(it.data) }),
      el('td', { dataset: { label: 'Terminal', col: 'terminal' } }, terminal),
      el('td', { class: 'num', dataset: { label: 'Version', col: 'version' }, text: String(it.version) }),
      el('td', { class: 'num', dataset: { label: 'Attempts', col: 'attempts' }, text: String(it.attempts ?? 0) }),
      el('td', {
        dataset: { label: 'Next sync', col: 'next', until: it.nextSyncAt ?? '' },
        title: it.nextSyncAt ?? '',
        text: !it.nextSyncAt && state === 'active' && this.paused ? 'paused' : until(it.nextSyncAt),
      }),
      el('td', { dataset: { label: 'Last synced', col: 'synced', time: it.syncedAt ?? '' }, title: it.syncedAt ?? '', text: ago(it.syncedAt) }),
      // The upstream writes the error: text only, never markup.
      el('td', { class: lastError ? 'error-text' : 'muted', dataset: { label: 'Last error', col: 'error' }, title: lastError ?? undefined },
        el('span', { text: lastError ?? '—' })),
      el('td', { class: 'actions' }, retry, edit, del),
    );
  }

  async retry(button, id) {
    button.disabled = true;
    button.textContent = 'Retrying…';
    try {
      await this.actions.retry(id);
    } catch {
      if (button.isConnected) {
        button.disabled = false;
        button.textContent = 'Retry';
      }
    }
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
      await this.actions.remove(id);
    } catch {
      button.disabled = false;
      delete button.dataset.armed;
      button.textContent = 'Delete';
    }
  }

  /**
   * Whether a shown item's schedule is out of date: an active item due more
   * than a few seconds ago, or with none known. A sync that leaves an item
   * unchanged sends no event, so only a list read tells its next sync.
   */
  stale(now = Date.now()) {
    for (const it of this.items.values()) {
      if (stateOf(it) !== 'active' || it.pendingDelete) continue;
      if (!it.nextSyncAt || Date.parse(it.nextSyncAt) < now - 3000) return true;
    }
    return false;
  }

  /** Refreshes the "… ago" and "in …" texts. */
  tick() {
    for (const td of this.tbody.querySelectorAll('td[data-time]')) {
      td.textContent = ago(td.dataset.time || null);
    }
    for (const td of this.tbody.querySelectorAll('td[data-until]:not([data-until=""])')) {
      td.textContent = until(td.dataset.until);
    }
  }
}
