// The dashboard's entry point: polls the caches, shows the picked cache's
// items live from its event stream, and carries out the page's actions:
// items (create, edit, retry, delete), the cache (sync, pause, resume) and
// its registration.
// When the server wants a token (a 401), everything stops and the token
// form is shown until a token is accepted.

import * as api from './api.js';
import { AuthGate } from './auth.js';
import { CachesView } from './caches.js';
import { CacheForm, EditDialog } from './forms.js';
import { ItemsView } from './items.js';
import { ItemStream } from './stream.js';

const POLL_MS = 2000;
// The items are read again at most this often when their next syncs are
// out of date (syncs that change nothing send no event).
const REFRESH_MS = 10_000;
const $ = (id) => document.getElementById(id);

/** Shows a short message in the corner; errors stay longer. */
function toast(message, isError = false) {
  const t = document.createElement('div');
  t.className = isError ? 'toast error' : 'toast';
  t.textContent = message;
  $('toasts').append(t);
  setTimeout(() => t.remove(), isError ? 8000 : 3000);
}

const describe = api.describe;

class Dashboard {
  constructor() {
    this.current = null; // the picked cache's name
    this.stream = null;
    this.loadSeq = 0;
    this.locked = false; // waiting for a token
    this.epoch = 0; // counts the locks: work begun before one is dropped
    this.caches = new CachesView($('caches'), $('caches-empty'), (name) => this.pick(name));
    this.items = new ItemsView($('items').tBodies[0], $('items-empty'), $('items-more'), {
      remove: (id) => this.remove(id),
      retry: (id) => this.retry(id),
      edit: (item) => this.editor.open(this.current, item),
    });
    this.editor = new EditDialog((item) => this.items.upsert(item), (text) => toast(text));
    this.cacheForm = new CacheForm((cache, created) => this.saved(cache, created));
    $('create-form').addEventListener('submit', (e) => this.create(e));
    $('sync-now').addEventListener('click', () => this.sync());
    $('pause').addEventListener('click', () => this.setPaused(true));
    $('resume').addEventListener('click', () => this.setPaused(false));
    $('register-cache').addEventListener('click', () => this.cacheForm.openNew());
    $('edit-cache').addEventListener('click', () => {
      const view = this.caches.get(this.current);
      if (view) this.cacheForm.openEdit(view);
    });
    $('state-filter').addEventListener('change', (e) => {
      this.items.setFilter(e.currentTarget.value);
      if (this.current) this.reload(this.current);
    });
    window.addEventListener('hashchange', () => {
      if (!this.locked) this.pick(this.fromHash(), false);
    });
    setInterval(() => this.tick(), 1000);
    this.gate = new AuthGate(
      { panel: $('auth-panel'), form: $('auth-form'), input: $('token'), message: $('auth-message'), signOut: $('sign-out') },
      { check: () => this.check(), signedOut: () => this.lock(false, true) },
    );
    api.onAuthRequired(({ rejected }) => this.lock(rejected));
  }

  // Stops everything until a token is accepted: no polling, no stream, and
  // nothing of what was shown. signedOut: the gate shows itself.
  lock(rejected, signedOut = false) {
    if (!this.locked) {
      this.locked = true;
      this.epoch++;
      this.started = false;
      clearTimeout(this.pollTimer);
      this.loadSeq++; // list reads under way are dropped
      this.stream?.close();
      this.stream = null;
      this.current = null;
      this.editor.close();
      this.cacheForm.dialog.close();
      this.items.reset();
      this.caches.update([]);
      $('caches-section').hidden = true;
      $('cache-panel').hidden = true;
      $('caches-status').textContent = '';
    }
    if (!signedOut) this.gate.show(rejected);
  }

  // Tries the token the gate just kept; on success, starts again.
  async check() {
    try {
      await api.listCaches();
    } catch (err) {
      // A 401 has locked the page again and the gate says so.
      if (err.status !== 401) this.gate.say(`Cannot check the token: ${describe(err)}`, true);
      return false;
    }
    this.locked = false;
    $('caches-section').hidden = false;
    $('caches-title').focus();
    toast('Token accepted.');
    this.start();
    return true;
  }

  fromHash() {
    const m = /^#cache=(.+)$/.exec(location.hash);
    return m ? decodeURIComponent(m[1]) : null;
  }

  async start() {
    await this.poll();
    if (this.locked) return;
    const wanted = this.fromHash();
    const names = this.caches.caches.map((c) => c.name);
    if (wanted && names.includes(wanted)) this.pick(wanted, false);
    else if (names.length > 0) this.pick(names[0]);
  }

  // Polls the caches every POLL_MS, and picks the first cache to appear
  // when none is shown.
  async poll() {
    clearTimeout(this.pollTimer);
    if (this.locked) return;
    const epoch = this.epoch;
    const started = Date.now();
    try {
      const list = await api.listCaches();
      if (epoch !== this.epoch) return;
      // A read begun before this page paused or resumed a cache may show
      // its state from before: the answer of the pause call is newer.
      const o = this.pauseOverride;
      if (o && started <= o.at) {
        const c = list.find((x) => x.name === o.name);
        if (c) c.paused = o.paused;
      }
      this.caches.update(list);
      this.showPaused();
      $('caches-status').textContent = `${list.length} ${list.length === 1 ? 'cache' : 'caches'}`;
      const names = list.map((c) => c.name);
      if (this.current && !names.includes(this.current)) {
        toast(`Cache ${this.current} was deleted.`, true);
        this.pick(null);
      }
      if (!this.current && names.length > 0 && this.started) this.pick(names[0]);
    } catch (err) {
      if (epoch !== this.epoch) return; // a 401: the token form is (or was) up
      $('caches-status').textContent = `Cannot read the caches: ${describe(err)}`;
    }
    this.started = true;
    this.pollTimer = setTimeout(() => this.poll(), POLL_MS);
  }

  /** Shows a cache's items (null: none). */
  pick(name, pushHash = true) {
    if (name === this.current) return;
    this.stream?.close();
    this.stream = null;
    this.current = name;
    this.caches.select(name);
    this.items.reset();
    $('cache-panel').hidden = !name;
    if (!name) return;
    this.editor.close();
    $('current-cache').textContent = name;
    this.showPaused();
    if (pushHash) history.replaceState(null, '', `#cache=${encodeURIComponent(name)}`);
    this.stream = new ItemStream(name, {
      event: (kind, payload) => this.items.apply(kind, payload),
      resync: () => this.reload(name),
      state: (s) => {
        const live = $('live');
        live.dataset.state = s;
        live.textContent = { live: 'live', connecting: 'connecting…', offline: 'offline' }[s];
      },
    });
    this.stream.open();
  }

  // Every second: the times shown, and a list read when they are stale.
  tick() {
    this.items.tick();
    const name = this.current;
    if (!name || this.locked || this.items.pending || document.hidden) return;
    if (this.caches.get(name)?.paused) return; // nothing is scheduled
    if (Date.now() - (this.loadedAt ?? 0) >= REFRESH_MS && this.items.stale()) this.reload(name);
  }

  // Reads the list again; events that arrive meanwhile wait for it.
  async reload(name) {
    this.loadedAt = Date.now();
    const seq = ++this.loadSeq;
    this.items.beginReload();
    try {
      const page = await api.listItems(name, { state: this.items.filter || undefined });
      if (seq !== this.loadSeq || name !== this.current) return;
      this.items.endReload(page.items, Boolean(page.nextCursor));
    } catch (err) {
      if (seq !== this.loadSeq || name !== this.current) return;
      this.items.endReload([...this.items.items.values()], this.items.partial);
      if (err.status !== 401) toast(`Cannot list the items: ${describe(err)}`, true);
    }
  }

  async create(e) {
    e.preventDefault();
    const form = e.currentTarget;
    const id = form.elements.id.value.trim();
    const text = form.elements.data.value.trim();
    let data = null;
    if (text !== '') {
      try {
        data = JSON.parse(text);
      } catch {
        toast('Data must be JSON, such as {"status": "Not-started"}.', true);
        form.elements.data.focus();
        return;
      }
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const { item, created } = await api.createItem(this.current, id, data, form.elements.terminal.checked);
      this.items.upsert(item);
      toast(created ? `Created ${id}.` : `${id} already exists; it was left as it is.`);
      form.elements.id.value = '';
      form.elements.id.focus();
    } catch (err) {
      toast(`Cannot create ${id}: ${describe(err)}`, true);
    } finally {
      button.disabled = false;
    }
  }

  async remove(id) {
    try {
      const item = await api.deleteItem(this.current, id);
      // Not if the stream already said it is gone.
      if (this.items.items.has(id)) this.items.upsert(item);
      toast(`${id} will be deleted at the next sync cycle.`);
    } catch (err) {
      toast(`Cannot delete ${id}: ${describe(err)}`, true);
      throw err;
    }
  }

  async retry(id) {
    try {
      const item = await api.retryItem(this.current, id);
      this.items.upsert(item);
      toast(`${id} will be synced again.`);
    } catch (err) {
      if (err.status === 409) toast(`Cannot retry ${id}: it has completed.`, true);
      else toast(`Cannot retry ${id}: ${describe(err)}`, true);
      throw err;
    }
  }

  // The current cache's Paused / Syncing badge and buttons, from its last
  // view: Pause is offered while it syncs, Resume while it is paused.
  showPaused(view = this.caches.get(this.current)) {
    const known = view && typeof view.paused === 'boolean';
    const badge = $('paused-state');
    badge.hidden = !known;
    badge.textContent = !known ? '' : view.paused ? 'Paused' : 'Syncing';
    badge.className = `badge ${known && view.paused ? 'paused' : 'running'}`;
    $('pause').disabled = !known || view.paused;
    $('resume').disabled = !known || !view.paused;
    this.items.setPaused(Boolean(known && view.paused));
    // The filter says how many items each state has.
    const counts = view?.stats?.itemsByState;
    for (const opt of $('state-filter').options) {
      const n = opt.value ? counts?.[opt.value] : view?.stats?.size;
      opt.textContent = `${opt.value || 'all'} items${typeof n === 'number' ? ` (${n})` : ''}`;
    }
  }

  async setPaused(paused) {
    const name = this.current;
    const [button, other] = paused ? [$('pause'), $('resume')] : [$('resume'), $('pause')];
    button.disabled = true;
    try {
      const view = await (paused ? api.pauseCache(name) : api.resumeCache(name));
      if (name !== this.current) return;
      // The counters come with the next poll; the state is shown now.
      this.pauseOverride = { name, paused: view.paused, at: Date.now() };
      const known = this.caches.get(name);
      if (known) known.paused = view.paused;
      this.caches.render();
      this.showPaused(known ?? view);
      toast(view.paused ? `${name} is paused: no syncs until it is resumed.` : `${name} syncs again.`);
      if (!other.disabled) other.focus();
    } catch (err) {
      toast(`Cannot ${paused ? 'pause' : 'resume'} ${name}: ${describe(err)}`, true);
      this.showPaused();
      button.focus();
    }
  }

  // A cache was registered or its config saved from the form.
  saved(cache, created) {
    toast(created ? `Registered ${cache.name}.` : `Saved the config of ${cache.name}.`);
    if (created) this.caches.registered(cache.name);
    this.poll().then(() => {
      if (!this.locked) this.pick(cache.name);
    });
  }

  async sync() {
    const button = $('sync-now');
    button.disabled = true;
    try {
      await api.syncCache(this.current);
      toast(`Sync of ${this.current} queued.`);
    } catch (err) {
      toast(`Cannot sync: ${describe(err)}`, true);
    } finally {
      button.disabled = false;
    }
  }
}

new Dashboard().start();
