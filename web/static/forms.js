// The page's two dialogs: editing an item (PATCH with If-Match, so that a
// change made meanwhile is never overwritten) and registering a cache or
// editing its config (PUT), with the server's validation errors shown
// beside the field they name.

import * as api from './api.js';

// A Go duration, as the server parses them: 300ms, 1.5h, 2h45m.
const DURATION = /^([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))*$/;

const UNIT_MS = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration in ms, or NaN. */
export function durationMs(text) {
  if (typeof text !== 'string' || !DURATION.test(text)) return NaN;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/([0-9]*\.?[0-9]+\.?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(n) * UNIT_MS[unit];
  return ms;
}

// The config fields of the form, by the path the server's messages name,
// and the id of their input.
export const FIELDS = {
  cache: 'cf-name',
  'webhook.url': 'cf-url',
  resyncPeriod: 'cf-resync',
  batchSize: 'cf-batch',
  'retry.maxAttempts': 'cf-attempts',
  'retry.maxBackoff': 'cf-backoff',
  itemTTL: 'cf-ttl',
};

/**
 * The field a validation message names, as a key of FIELDS, with the rest
 * of the message; null when it names none of them. The server's messages
 * start with the field's path ("retry.maxAttempts: must be ..."); those of
 * its schema check start with "body." or "path." before it.
 */
export function fieldOf(message) {
  const m = /^([A-Za-z0-9_.[\]-]+):\s*(.*)$/s.exec(message ?? '');
  if (!m) return null;
  const path = m[1].replace(/^(body|path)\./, '');
  let best = null;
  for (const key of Object.keys(FIELDS)) {
    if ((path === key || path.startsWith(`${key}.`)) && (!best || key.length > best.length)) best = key;
  }
  return best && { field: best, text: m[2] };
}

/** Whether a dashboard edit of this cache would drop what it cannot see. */
export function hiddenConfig(view) {
  const parts = [];
  if (view.webhook?.secretSet) parts.push('a webhook secret');
  if (Object.keys(view.webhook?.headers ?? {}).length > 0) parts.push('webhook headers');
  if ((view.webhook?.url ?? '').includes('***')) parts.push('query values in its webhook URL');
  return parts;
}

function openModal(dialog) {
  const opener = document.activeElement;
  dialog.showModal();
  dialog.addEventListener('close', () => opener?.isConnected && opener.focus(), { once: true });
}

export class EditDialog {
  /**
   * @param {(item: object) => void} onSaved called with the item a PATCH answered
   * @param {(text: string) => void} toast
   */
  constructor(onSaved, toast) {
    const $ = (id) => document.getElementById(id);
    this.dialog = $('edit-dialog');
    this.form = $('edit-form');
    this.data = $('edit-data');
    this.terminal = $('edit-terminal');
    this.dataError = $('edit-data-error');
    this.message = $('edit-message');
    this.reloadButton = $('edit-reload');
    this.save = $('edit-save');
    this.idText = $('edit-id');
    this.versionText = $('edit-version');
    this.onSaved = onSaved;
    this.toast = toast;
    this.form.addEventListener('submit', (e) => this.submit(e));
    $('edit-cancel').addEventListener('click', () => this.dialog.close());
    this.reloadButton.addEventListener('click', () => this.reload());
    this.data.addEventListener('input', () => this.dataProblem(''));
  }

  /** Opens the dialog on an item of a cache. */
  open(cache, item) {
    this.cache = cache;
    this.fill(item);
    this.say('');
    openModal(this.dialog);
    this.data.focus();
  }

  /** Closes the dialog (the page was locked, or the cache changed). */
  close() {
    if (this.dialog.open) this.dialog.close();
  }

  fill(item) {
    this.item = item;
    this.idText.textContent = item.id;
    this.versionText.textContent = String(item.version);
    this.data.value = JSON.stringify(item.data ?? null, null, 2);
    this.terminal.checked = Boolean(item.terminal);
    this.reloadButton.hidden = true;
    this.dataProblem('');
  }

  say(text, isError = false) {
    this.message.textContent = text;
    this.message.classList.toggle('error', isError);
  }

  dataProblem(text) {
    this.dataError.textContent = text;
    if (text) this.data.setAttribute('aria-invalid', 'true');
    else this.data.removeAttribute('aria-invalid');
  }

  async submit(e) {
    e.preventDefault();
    let data;
    try {
      data = JSON.parse(this.data.value);
    } catch (err) {
      this.dataProblem(`This is not JSON: ${err.message}`);
      this.data.focus();
      return;
    }
    const fields = {};
    if (JSON.stringify(data) !== JSON.stringify(this.item.data ?? null)) fields.data = data;
    if (this.terminal.checked !== Boolean(this.item.terminal)) fields.terminal = this.terminal.checked;
    if (Object.keys(fields).length === 0) {
      this.say('Nothing changed: there is nothing to save.');
      return;
    }
    this.save.disabled = true;
    this.say('Saving…');
    try {
      const item = await api.patchItem(this.cache, this.item.id, fields, this.item.version);
      this.onSaved(item);
      this.toast(`Saved ${item.id}: now at version ${item.version}.`);
      this.dialog.close();
    } catch (err) {
      if (err.status === 401) {
        this.dialog.close(); // the token form takes over
      } else if (err.status === 412) {
        this.say(`${this.item.id} changed meanwhile: it is no longer at version ${this.item.version}. ` +
          'Reload it to see the latest version (your changes here will be replaced), then edit again.', true);
        this.reloadButton.hidden = false;
        this.reloadButton.focus();
      } else if (err.status === 404) {
        this.say(`${this.item.id} no longer exists.`, true);
      } else {
        this.say(`Cannot save: ${api.describe(err)}`, true);
      }
    } finally {
      this.save.disabled = false;
    }
  }

  async reload() {
    try {
      const item = await api.getItem(this.cache, this.item.id);
      this.fill(item);
      this.say(`Reloaded: ${item.id} is now at version ${item.version}.`);
      this.data.focus();
    } catch (err) {
      if (err.status === 401) this.dialog.close();
      else this.say(`Cannot reload: ${api.describe(err)}`, true);
    }
  }
}

export class CacheForm {
  /**
   * @param {(cache: object, created: boolean) => void} onSaved called with
   *   the cache view a PUT answered
   */
  constructor(onSaved) {
    const $ = (id) => document.getElementById(id);
    this.$ = $;
    this.dialog = $('cache-dialog');
    this.form = $('cache-form');
    this.title = $('cache-form-title');
    this.note = $('cache-form-note');
    this.message = $('cache-form-message');
    this.save = $('cache-save');
    this.onSaved = onSaved;
    this.form.addEventListener('submit', (e) => this.submit(e));
    $('cache-cancel').addEventListener('click', () => this.dialog.close());
    for (const id of Object.values(FIELDS)) {
      $(id).addEventListener('input', () => this.fieldProblem(id, ''));
    }
  }

  input(key) {
    return this.$(FIELDS[key]);
  }

  /** Opens the form for a new cache. */
  openNew() {
    this.editing = null;
    this.form.reset();
    this.title.textContent = 'Register a cache';
    this.save.textContent = 'Register';
    this.input('cache').readOnly = false;
    this.note.hidden = true;
    this.save.disabled = false;
    this.clear();
    openModal(this.dialog);
    this.input('cache').focus();
  }

  /** Opens the form on an existing cache's config (its view). */
  openEdit(view) {
    this.editing = view;
    this.form.reset();
    this.title.textContent = `Edit the config of ${view.name}`;
    this.save.textContent = 'Save config';
    this.clear();
    const set = (key, v) => {
      this.input(key).value = v === undefined || v === null ? '' : String(v);
    };
    set('cache', view.name);
    this.input('cache').readOnly = true;
    set('webhook.url', view.webhook?.url);
    set('resyncPeriod', view.resyncPeriod);
    set('batchSize', view.batchSize);
    set('retry.maxAttempts', view.retry?.maxAttempts);
    // The default backoff (ten resync periods) is left out, so that it
    // follows a new resync period.
    const backoff = view.retry?.maxBackoff;
    set('retry.maxBackoff', durationMs(backoff) === 10 * durationMs(view.resyncPeriod) ? '' : backoff);
    set('itemTTL', view.itemTTL && !/^0[a-zµ]*$/.test(view.itemTTL) ? view.itemTTL : '');
    const hidden = hiddenConfig(view);
    this.note.hidden = hidden.length === 0;
    this.save.disabled = hidden.length > 0;
    this.note.textContent = hidden.length === 0 ? ''
      : `This cache has ${hidden.join(' and ')}, which the server does not show. Saving from here would ` +
        'drop them, so it is turned off: change this cache through the API.';
    openModal(this.dialog);
    this.input('webhook.url').focus();
  }

  clear() {
    for (const id of Object.values(FIELDS)) this.fieldProblem(id, '');
    this.say('');
  }

  say(text, isError = false) {
    this.message.textContent = text;
    this.message.classList.toggle('error', isError);
  }

  fieldProblem(id, text) {
    const input = this.$(id);
    this.$(`${id}-error`).textContent = text;
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  /** The PUT body of the form, or null after marking the fields that are wrong. */
  body() {
    const problems = [];
    const value = (key) => this.input(key).value.trim();
    const need = (key, what) => {
      if (value(key) === '') problems.push([key, `${what} is required.`]);
    };
    need('cache', 'A name');
    need('webhook.url', 'A webhook URL');
    need('resyncPeriod', 'A resync period');
    const duration = (key) => {
      const v = value(key);
      if (v !== '' && !DURATION.test(v)) problems.push([key, 'Enter a duration such as 500ms, 30s or 5m.']);
      return v;
    };
    const integer = (key) => {
      const v = value(key);
      if (v === '') return undefined;
      if (!/^-?[0-9]+$/.test(v)) {
        problems.push([key, 'Enter a whole number.']);
        return undefined;
      }
      return Number(v);
    };
    // What the form does not show is kept as it is.
    const old = this.editing;
    const cfg = old
      ? {
        webhook: { url: value('webhook.url'), timeout: old.webhook?.timeout },
        parallelism: old.parallelism,
        size: old.size,
        syncOnCreate: old.syncOnCreate,
        rateLimit: old.rateLimit,
      }
      : { webhook: { url: value('webhook.url') } };
    cfg.resyncPeriod = duration('resyncPeriod');
    const batch = integer('batchSize');
    if (batch !== undefined) cfg.batchSize = batch;
    const attempts = integer('retry.maxAttempts');
    const backoff = duration('retry.maxBackoff');
    if (attempts !== undefined || backoff !== '') {
      cfg.retry = {};
      if (attempts !== undefined) cfg.retry.maxAttempts = attempts;
      if (backoff !== '') cfg.retry.maxBackoff = backoff;
    }
    const ttl = duration('itemTTL');
    if (ttl !== '') cfg.itemTTL = ttl;
    for (const [key, text] of problems) this.fieldProblem(FIELDS[key], text);
    if (problems.length > 0) {
      this.input(problems[0][0]).focus();
      this.say('Check the fields marked above.', true);
      return null;
    }
    return cfg;
  }

  async submit(e) {
    e.preventDefault();
    this.clear();
    const cfg = this.body();
    if (!cfg) return;
    const name = this.input('cache').value.trim();
    this.save.disabled = true;
    this.say('Saving…');
    try {
      const { cache, created } = await api.putCache(name, cfg);
      this.dialog.close();
      this.onSaved(cache, created);
    } catch (err) {
      if (err.status === 401) {
        this.dialog.close(); // the token form takes over
        return;
      }
      const named = err.status === 400 ? fieldOf(err.message) : null;
      if (named) {
        this.fieldProblem(FIELDS[named.field], named.text);
        this.input(named.field).focus();
        this.say('The server refused the field marked above.', true);
      } else {
        this.say(`Cannot save ${name}: ${api.describe(err)}`, true);
      }
    } finally {
      this.save.disabled = false;
    }
  }
}
