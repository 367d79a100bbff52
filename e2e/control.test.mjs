// Per-item control in the dashboard (issue 15): item states, attempts,
// next sync and last error; the state filter; Retry; editing an item with
// If-Match (and the 412 when it changed meanwhile); Pause and Resume; the
// sparkline of syncs and errors; the form that registers a cache or edits
// its config, with the server's validation errors beside their fields.
// Then the same writes with a read token (refused, and said so) and a
// write token, on a server with --auth-tokens-file.
//
// The upstream is the test's own: an HTTP server that answers each item as
// the test tells it (complete it, hold it, or answer an item-level error),
// and a /down path that answers 500 to every batch.
//
// Imported by dashboard.test.mjs (make test-e2e runs that file), or run on
// its own with `node --test control.test.mjs` in e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { launch, openPage } from './lib/browser.mjs';
import { build, start, startWithTokens } from './lib/procs.mjs';

const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'out');
const DESKTOP = { width: 1360, height: 900 };
const PHONE = { width: 390, height: 844 };

// Upstream-controlled text, shown as text: never as markup.
const EVIL = '<img src=x data-evil="1"> & "boom" <b>bold</b>';

/**
 * The test's upstream. modes: id -> 'complete' | 'hold' | 'error'; an id
 * without one is held. POST /down answers 500 to everything.
 */
async function startUpstream() {
  const modes = new Map();
  const srv = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.url.startsWith('/down')) {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end('{"code":"DOWN","message":"the upstream is down"}');
        return;
      }
      let batch;
      try {
        batch = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        res.writeHead(400).end();
        return;
      }
      const items = [];
      for (const it of batch.items) {
        const mode = modes.get(it.id) ?? 'hold';
        if (mode === 'complete') {
          items.push({ id: it.id, action: 'update', data: { ...(it.data ?? {}), status: 'Completed' }, terminal: true });
        } else if (mode === 'error') {
          items.push({ id: it.id, action: 'error', error: EVIL });
        } else {
          items.push({ id: it.id, action: 'unchanged', nextSyncAfter: '5m' });
        }
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ items }));
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return { modes, url: `http://127.0.0.1:${srv.address().port}`, close: () => srv.close() };
}

const SERVER_ARGS = ['--addr', '127.0.0.1:0', '--allow-webhook-cidrs', '127.0.0.0/8', '--in-memory'];

/** Starts a server, with a write and a read token when tokens is true. */
function startServer(bin, tokens) {
  return tokens ? startWithTokens(bin, SERVER_ARGS) : start(bin, SERVER_ARGS);
}

/** Calls a server's API as a client program would: {status, body, etag}. */
async function raw(srv, token, method, urlPath, body, headers = {}) {
  const h = { ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (token) h.Authorization = `Bearer ${token}`;
  const res = await fetch(srv.url + urlPath, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, etag: res.headers.get('ETag') };
}

/** The same, asserting a 2xx: answers the body. */
async function call(srv, token, method, urlPath, body, headers) {
  const r = await raw(srv, token, method, urlPath, body, headers);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${urlPath}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const row = (page, id) => page.locator(`#items tbody tr[data-id="${id}"]`);
const cell = (page, id, col) => row(page, id).locator(`td[data-col="${col}"]`);

// The browser's own log line for a response with an error status, which
// the page cannot prevent: the tests cause these on purpose.
const statusLine = /^console error: Failed to load resource: the server responded with a status of (400|401|403|409|412) /;

test('per-item control from the dashboard', async (t) => {
  const serverBin = build('server');
  const upstream = await startUpstream();
  const server = await startServer(serverBin, false);
  const browser = await launch();
  t.after(async () => {
    await browser.close();
    await server.stop('SIGKILL');
    upstream.close();
  });
  mkdirSync(OUT, { recursive: true });
  const api = (method, urlPath, body, headers) => call(server, null, method, urlPath, body, headers);
  const problems = [];
  const page = await openPage(browser, DESKTOP, problems);
  // The page keeps to the server's Content-Security-Policy: the browser
  // reports every refusal here (and on the console).
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} refused ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  const requests = [];
  page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}${new URL(r.url()).search}`));
  const dialog = page.getByRole('dialog');

  await t.test('registers a cache from the form, with the server\'s errors beside their fields', async () => {
    await page.goto(server.url + '/');
    await page.getByText('No caches yet').waitFor();
    await page.getByRole('button', { name: 'Register a cache' }).click();
    await dialog.getByRole('heading', { name: 'Register a cache' }).waitFor();
    assert.ok(await page.getByLabel('Cache name').evaluate((e) => e === document.activeElement), 'the name has the focus');

    // Checked in the page first: nothing is sent.
    await page.getByLabel('Cache name').fill('e2e-ctl');
    await page.getByLabel('Webhook URL').fill(`${upstream.url}/sync`);
    await page.getByLabel('Resync period').fill('soon');
    await page.getByLabel('Batch size').fill('many');
    const before = requests.length;
    await dialog.getByRole('button', { name: 'Register' }).click();
    await page.locator('#cf-resync-error', { hasText: 'Enter a duration' }).waitFor();
    await page.locator('#cf-batch-error', { hasText: 'Enter a whole number' }).waitFor();
    assert.equal(await page.getByLabel('Resync period').getAttribute('aria-invalid'), 'true');
    assert.ok(!requests.slice(before).some((r) => r.startsWith('PUT ')), 'a PUT was sent');

    // The server's range check names resyncPeriod: shown beside it.
    await page.getByLabel('Resync period').fill('1ms');
    await page.getByLabel('Batch size').fill('');
    await dialog.getByRole('button', { name: 'Register' }).click();
    await page.locator('#cf-resync-error', { hasText: 'must be between' }).waitFor();
    assert.equal(await page.locator('#cf-batch-error').textContent(), '');
    assert.ok(await page.getByLabel('Resync period').evaluate((e) => e === document.activeElement));

    // The egress policy names webhook.url.
    await page.getByLabel('Resync period').fill('1s');
    await page.getByLabel('Webhook URL').fill('http://10.1.2.3/sync');
    await dialog.getByRole('button', { name: 'Register' }).click();
    await page.locator('#cf-url-error', { hasText: 'private' }).waitFor();
    await dialog.screenshot({ path: path.join(OUT, 'control-config-error.png') });
    assert.equal(await page.locator('#cf-resync-error').textContent(), '');

    // retry.maxAttempts out of range.
    await page.getByLabel('Webhook URL').fill(`${upstream.url}/sync`);
    await page.getByLabel('Retry: max attempts').fill('-1');
    await dialog.getByRole('button', { name: 'Register' }).click();
    await page.locator('#cf-attempts-error:not(:empty)').waitFor();
    assert.equal(await page.getByLabel('Retry: max attempts').getAttribute('aria-invalid'), 'true');

    await page.getByLabel('Retry: max attempts').fill('1');
    await page.getByLabel('Retry: max backoff').fill('30s');
    await dialog.getByRole('button', { name: 'Register' }).click();
    await page.getByText('Registered e2e-ctl.').waitFor();
    await dialog.waitFor({ state: 'hidden' });
    await page.locator('.card[data-name="e2e-ctl"]').waitFor();
    await page.locator('#current-cache', { hasText: 'e2e-ctl' }).waitFor();
    await page.locator('#live[data-state="live"]').waitFor();
    const cfg = await api('GET', '/v1/caches/e2e-ctl');
    assert.equal(cfg.resyncPeriod, '1s');
    assert.equal(cfg.retry.maxAttempts, 1);
    assert.equal(cfg.webhook.url, `${upstream.url}/sync`);
  });

  await t.test('shows each item\'s state, attempts, next sync and last error', async () => {
    upstream.modes.set('ok-1', 'complete');
    upstream.modes.set('bad-1', 'error');
    upstream.modes.set('held-1', 'hold');
    for (const id of ['ok-1', 'bad-1', 'held-1']) {
      await api('POST', '/v1/caches/e2e-ctl/items', { id, data: { status: 'Not-started' } });
    }
    await cell(page, 'ok-1', 'state').getByText('completed', { exact: true }).waitFor({ timeout: 20_000 });
    assert.equal(await cell(page, 'ok-1', 'error').textContent(), '—');
    // The held item waits for the upstream's nextSyncAfter (5m, which the
    // server may shorten to its bound). That answer changes nothing, so no
    // event says it: the page reads the list again when its times are stale.
    await cell(page, 'held-1', 'state').getByText('active', { exact: true }).waitFor();
    await cell(page, 'held-1', 'next').filter({ hasText: /^in ([3-9]\d s|[1-5] min)$/ }).waitFor({ timeout: 25_000 });
    // Retry is offered on failed and expired items only.
    assert.equal(await row(page, 'ok-1').getByRole('button', { name: 'Retry item ok-1' }).count(), 0);
    assert.equal(await row(page, 'held-1').getByRole('button', { name: 'Retry item held-1' }).count(), 0);
    // retry.maxAttempts is 1: the upstream's first error gives the item up.
    await cell(page, 'bad-1', 'state').getByText('failed', { exact: true }).waitFor({ timeout: 20_000 });
    assert.equal(await cell(page, 'bad-1', 'attempts').textContent(), '1');
    // The error is the upstream's text, shown as text.
    assert.equal(await cell(page, 'bad-1', 'error').textContent(), EVIL);
    assert.equal(await row(page, 'bad-1').locator('img, b').count(), 0);
    assert.equal(await cell(page, 'bad-1', 'next').textContent(), '—');
    await row(page, 'bad-1').getByRole('button', { name: 'Retry item bad-1' }).waitFor();
    await page.locator('.card[data-name="e2e-ctl"]').getByText('Items given up: 1 failed').waitFor();
    await page.screenshot({ path: path.join(OUT, 'control-desktop.png'), fullPage: true });
  });

  await t.test('every control has a name, and every badge says its state in words', async () => {
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll('button, select, input, textarea, svg[role="img"]')]
        .filter((e) => !(e.getAttribute('aria-label') || e.labels?.length || e.textContent.trim()))
        .map((e) => e.outerHTML.slice(0, 80)));
    assert.deepEqual(unnamed, []);
    const badges = await page.locator('#items .badge').allTextContents();
    assert.ok(badges.length >= 3 && badges.every((b) => ['active', 'completed', 'failed', 'expired'].includes(b)), badges.join());
    const csp = (await page.goto(server.url + '/')).headers()['content-security-policy'];
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe/);
    await row(page, 'bad-1').waitFor();
  });

  await t.test('filters the items by state, on the server', async () => {
    try {
      const listed = page.waitForRequest((r) => /\/items\?.*state=failed/.test(r.url()));
      await page.getByLabel('Show').selectOption('failed');
      await listed;
      await row(page, 'bad-1').waitFor();
      await page.waitForFunction(() => document.querySelectorAll('#items tbody tr').length === 1);
      // Each state's count, from the cache's stats.
      await page.locator('#state-filter option[value="failed"]', { hasText: 'failed items (1)' }).waitFor({ state: 'attached' });
      await page.getByLabel('Show').selectOption('expired');
      await page.getByText('No expired items.').waitFor();
    } finally {
      await page.getByLabel('Show').selectOption('');
    }
    await row(page, 'ok-1').waitFor();
    await row(page, 'held-1').waitFor();
    await row(page, 'bad-1').waitFor();
  });

  await t.test('retries a failed item', async () => {
    upstream.modes.set('bad-1', 'complete');
    await row(page, 'bad-1').getByRole('button', { name: 'Retry item bad-1' }).click();
    await page.getByText('bad-1 will be synced again.').waitFor();
    await cell(page, 'bad-1', 'state').getByText('completed', { exact: true }).waitFor({ timeout: 20_000 });
    await cell(page, 'bad-1', 'data').filter({ hasText: '"Completed"' }).waitFor();
    assert.equal(await cell(page, 'bad-1', 'error').textContent(), '—');
    assert.equal(await row(page, 'bad-1').getByRole('button', { name: 'Retry item bad-1' }).count(), 0);
    // The server refuses a retry of a completed item.
    assert.equal((await raw(server, null, 'POST', '/v1/caches/e2e-ctl/items/bad-1/retry')).status, 409);
  });

  await t.test('retries an expired item', async () => {
    upstream.modes.set('exp-1', 'hold');
    await api('POST', '/v1/caches/e2e-ctl/items', { id: 'exp-1', data: null, ttl: '2s' });
    await cell(page, 'exp-1', 'state').getByText('expired', { exact: true }).waitFor({ timeout: 20_000 });
    assert.equal(await cell(page, 'exp-1', 'next').textContent(), '—');
    await row(page, 'exp-1').getByRole('button', { name: 'Retry item exp-1' }).click();
    // Retried without a ttl, it has no deadline any more.
    await cell(page, 'exp-1', 'state').getByText('active', { exact: true }).waitFor();
    const item = await api('GET', '/v1/caches/e2e-ctl/items/exp-1');
    assert.equal(item.state, 'active');
    assert.equal(item.expiresAt, null);
    assert.equal(await row(page, 'exp-1').getByRole('button', { name: 'Retry item exp-1' }).count(), 0);
  });

  await t.test('edits an item: its JSON is checked, and it is sent with If-Match', async () => {
    const edit = row(page, 'held-1').getByRole('button', { name: 'Edit item held-1' });
    // By keyboard.
    await edit.focus();
    await page.keyboard.press('Enter');
    await dialog.getByRole('heading', { name: 'Edit item held-1' }).waitFor();
    const data = page.getByLabel('New data, as JSON');
    assert.ok(await data.evaluate((e) => e === document.activeElement), 'the data has the focus');
    assert.deepEqual(JSON.parse(await data.inputValue()), { status: 'Not-started' });
    const version = Number(await page.locator('#edit-version').textContent());

    // Not JSON: said, and nothing is sent.
    await data.fill('{"status": ');
    const before = requests.length;
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.locator('#edit-data-error', { hasText: 'This is not JSON' }).waitFor();
    assert.equal(await data.getAttribute('aria-invalid'), 'true');
    assert.ok(!requests.slice(before).some((r) => r.startsWith('PATCH ')), 'a PATCH was sent');

    // Escape closes it, and the focus goes back to the button.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.ok(await edit.evaluate((e) => e === document.activeElement), 'the focus is back on Edit');

    await edit.click();
    await data.fill('{"status": "Edited", "by": "e2e"}');
    const patched = page.waitForRequest((r) => r.method() === 'PATCH');
    await dialog.getByRole('button', { name: 'Save' }).click();
    const req = await patched;
    assert.equal((await req.allHeaders())['if-match'], `"${version}"`);
    assert.deepEqual(req.postDataJSON(), { data: { status: 'Edited', by: 'e2e' } });
    await dialog.waitFor({ state: 'hidden' });
    await cell(page, 'held-1', 'data').filter({ hasText: '"Edited"' }).waitFor();
    assert.equal(await cell(page, 'held-1', 'version').textContent(), String(version + 1));
  });

  await t.test('an item changed meanwhile is not overwritten: 412, reload, save', async () => {
    await row(page, 'held-1').getByRole('button', { name: 'Edit item held-1' }).click();
    const data = page.getByLabel('New data, as JSON');
    const version = Number(await page.locator('#edit-version').textContent());
    // Someone else changes it.
    const other = await raw(server, null, 'PATCH', '/v1/caches/e2e-ctl/items/held-1', { data: { status: 'Theirs' } },
      { 'If-Match': `"${version}"` });
    assert.equal(other.status, 200, JSON.stringify(other.body));
    assert.equal(other.etag, `"${version + 1}"`);
    await data.fill('{"status": "Mine"}');
    await page.getByLabel('Terminal (no more syncs)').check();
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByText('held-1 changed meanwhile').waitFor();
    await page.screenshot({ path: path.join(OUT, 'control-412.png') });
    const reload = dialog.getByRole('button', { name: 'Reload the item' });
    assert.ok(await reload.evaluate((e) => e === document.activeElement), 'the focus is on Reload');
    await reload.click();
    await dialog.getByText(`Reloaded: held-1 is now at version ${version + 1}.`).waitFor();
    assert.deepEqual(JSON.parse(await data.inputValue()), { status: 'Theirs' });
    assert.equal(await page.getByLabel('Terminal (no more syncs)').isChecked(), false);
    // Ends it by hand.
    await page.getByLabel('Terminal (no more syncs)').check();
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await cell(page, 'held-1', 'terminal').getByText('yes').waitFor();
    await cell(page, 'held-1', 'state').getByText('completed', { exact: true }).waitFor();
    assert.equal((await api('GET', '/v1/caches/e2e-ctl/items/held-1')).terminal, true);
  });

  await t.test('pauses and resumes the cache', async () => {
    const badge = page.locator('#paused-state');
    await badge.getByText('Syncing').waitFor();
    const pause = page.getByRole('button', { name: 'Pause' });
    const resume = page.getByRole('button', { name: 'Resume' });
    assert.ok(await resume.isDisabled());
    await pause.click();
    await badge.getByText('Paused').waitFor();
    await page.locator('.card[data-name="e2e-ctl"] .badge', { hasText: 'paused' }).waitFor();
    assert.ok(await pause.isDisabled());
    assert.ok(await resume.evaluate((e) => e === document.activeElement), 'the focus moved to Resume');
    assert.equal((await api('GET', '/v1/caches/e2e-ctl')).paused, true);
    // Items still come in while paused, and are not synced.
    upstream.modes.set('late-1', 'complete');
    await api('POST', '/v1/caches/e2e-ctl/items', { id: 'late-1', data: null });
    await row(page, 'late-1').waitFor();
    assert.equal(await cell(page, 'late-1', 'next').textContent(), 'paused');
    await page.keyboard.press('Enter'); // Resume, by keyboard
    await badge.getByText('Syncing').waitFor();
    assert.equal((await api('GET', '/v1/caches/e2e-ctl')).paused, false);
    await cell(page, 'late-1', 'state').getByText('completed', { exact: true }).waitFor({ timeout: 20_000 });
  });

  await t.test('draws a sparkline of syncs and sync errors', async () => {
    // A cache whose upstream answers 500: a sync error at every attempt,
    // retried (without a limit) at most 2s apart.
    await api('PUT', '/v1/caches/e2e-down', {
      webhook: { url: `${upstream.url}/down` }, resyncPeriod: '1s', retry: { maxBackoff: '2s' },
    });
    await api('POST', '/v1/caches/e2e-down/items', { id: 'down-1', data: null });
    const spark = (name) => page.locator(`.card[data-name="${name}"] svg.sparkline`);
    await spark('e2e-down').waitFor();
    // Two samples at least SAMPLE_MS apart make the first point.
    await page.waitForFunction(
      () => Number(document.querySelector('.card[data-name="e2e-down"] svg.sparkline')?.dataset.errors) > 0,
      null, { timeout: 30_000 },
    );
    assert.match(await spark('e2e-down').getAttribute('aria-label'), /Over the last 10 minutes: \d+ syncs?, [1-9]\d* sync errors?/);
    assert.equal(await spark('e2e-down').locator('polyline.errors').count(), 1);
    await page.waitForFunction(
      () => Number(document.querySelector('.card[data-name="e2e-ctl"] svg.sparkline')?.dataset.syncs) > 0,
      null, { timeout: 30_000 },
    );
    const points = await spark('e2e-ctl').locator('polyline.syncs').getAttribute('points');
    assert.match(points, /^[0-9.]+,[0-9.]+( [0-9.]+,[0-9.]+)+$/);
    await page.locator('.card[data-name="e2e-down"]').screenshot({ path: path.join(OUT, 'control-sparkline.png') });
  });

  await t.test('edits a cache\'s config, keeping what the form does not show', async () => {
    await page.getByRole('button', { name: 'Edit config' }).click();
    await dialog.getByRole('heading', { name: 'Edit the config of e2e-ctl' }).waitFor();
    assert.equal(await page.getByLabel('Cache name').getAttribute('readonly'), '');
    assert.equal(await page.getByLabel('Webhook URL').inputValue(), `${upstream.url}/sync`);
    assert.equal(await page.getByLabel('Resync period').inputValue(), '1s');
    assert.equal(await page.getByLabel('Retry: max attempts').inputValue(), '1');
    await page.getByLabel('Batch size').fill('100000');
    await dialog.getByRole('button', { name: 'Save config' }).click();
    await page.locator('#cf-batch-error', { hasText: /must be (between|at most)/ }).waitFor();
    assert.equal(await page.getByLabel('Batch size').getAttribute('aria-invalid'), 'true');
    await page.getByLabel('Batch size').fill('50');
    await page.getByLabel('Item TTL').fill('1h');
    await dialog.getByRole('button', { name: 'Save config' }).click();
    await page.getByText('Saved the config of e2e-ctl.').waitFor();
    const cfg = await api('GET', '/v1/caches/e2e-ctl');
    assert.equal(cfg.batchSize, 50);
    assert.equal(cfg.itemTTL, '1h0m0s');
    assert.equal(cfg.retry.maxAttempts, 1);
    assert.equal(cfg.resyncPeriod, '1s');

    // A cache with a secret cannot be saved from here: the form says why.
    await api('PUT', '/v1/caches/e2e-secret', {
      webhook: { url: `${upstream.url}/sync`, secret: `whsec_${Buffer.alloc(32, 7).toString('base64')}` }, resyncPeriod: '1h',
    });
    await page.locator('.card[data-name="e2e-secret"] button').click();
    await page.locator('#current-cache', { hasText: 'e2e-secret' }).waitFor();
    await page.getByRole('button', { name: 'Edit config' }).click();
    await dialog.getByText('a webhook secret').waitFor();
    assert.ok(await dialog.getByRole('button', { name: 'Save config' }).isDisabled());
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
  });

  await t.test('reads well on a phone', async () => {
    await page.locator('.card[data-name="e2e-ctl"] button').click();
    await row(page, 'held-1').waitFor();
    await page.setViewportSize(PHONE);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `the page is ${width}px wide on a ${PHONE.width}px screen`);
    await page.screenshot({ path: path.join(OUT, 'control-phone.png'), fullPage: true });
    await page.getByRole('button', { name: 'Edit config' }).click();
    const box = await dialog.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width, `the form spans ${box.x}..${box.x + box.width}`);
    await page.screenshot({ path: path.join(OUT, 'control-phone-config.png') });
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
  });

  const violations = await page.evaluate(() => window.__cspViolations);
  await page.context().close();
  assert.deepEqual(violations, [], 'Content-Security-Policy violations');
  assert.deepEqual(problems.filter((p) => !statusLine.test(p)), [], 'the page had errors');
});

test('per-item control with --auth-tokens-file: a read token is refused, a write token works', async (t) => {
  const serverBin = build('server');
  const upstream = await startUpstream();
  const server = await startServer(serverBin, true);
  const browser = await launch();
  t.after(async () => {
    await browser.close();
    await server.stop('SIGKILL');
    upstream.close();
  });
  const write = (method, urlPath, body) => call(server, server.writeToken, method, urlPath, body);
  await write('PUT', '/v1/caches/e2e-tok', { webhook: { url: `${upstream.url}/sync` }, resyncPeriod: '1s', retry: { maxAttempts: 1 } });
  // An item that expires: Retry is offered on it.
  upstream.modes.set('tok-exp', 'hold');
  upstream.modes.set('tok-held', 'hold');
  await write('POST', '/v1/caches/e2e-tok/items', { id: 'tok-exp', data: { n: 1 }, ttl: '1s' });
  await write('POST', '/v1/caches/e2e-tok/items', { id: 'tok-held', data: { n: 2 } });

  const problems = [];
  const page = await openPage(browser, DESKTOP, problems);
  const dialog = page.getByRole('dialog');
  const signIn = async (token) => {
    await page.getByLabel('Access token', { exact: true }).fill(token);
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.locator('#live[data-state="live"]').waitFor();
  };

  await t.test('a read token sees the items, and every write is refused with a clear message', async () => {
    await page.goto(server.url + '/');
    await signIn(server.readToken);
    await cell(page, 'tok-exp', 'state').getByText('expired', { exact: true }).waitFor({ timeout: 20_000 });

    await row(page, 'tok-exp').getByRole('button', { name: 'Retry item tok-exp' }).click();
    await page.getByText('Cannot retry tok-exp: this token may only read').waitFor();
    // The button is offered again.
    await row(page, 'tok-exp').getByRole('button', { name: 'Retry item tok-exp' }).and(page.locator(':enabled')).waitFor();

    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByText('Cannot pause e2e-tok: this token may only read').waitFor();
    await page.locator('#paused-state', { hasText: 'Syncing' }).waitFor();

    await row(page, 'tok-held').getByRole('button', { name: 'Edit item tok-held' }).click();
    await page.getByLabel('New data, as JSON').fill('{"n": 3}');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByText('Cannot save: this token may only read').waitFor();
    await page.keyboard.press('Escape');

    await page.getByRole('button', { name: 'Register a cache' }).click();
    await page.getByLabel('Cache name').fill('e2e-ro');
    await page.getByLabel('Webhook URL').fill(`${upstream.url}/sync`);
    await page.getByLabel('Resync period').fill('1s');
    await dialog.getByRole('button', { name: 'Register' }).click();
    await dialog.getByText('Cannot save e2e-ro: this token may only read').waitFor();
    await page.keyboard.press('Escape');

    const item = await call(server, server.readToken, 'GET', '/v1/caches/e2e-tok/items/tok-held');
    assert.deepEqual(item.data, { n: 2 });
    assert.equal((await call(server, server.readToken, 'GET', '/v1/caches/e2e-tok')).paused, false);
    assert.equal((await raw(server, server.readToken, 'GET', '/v1/caches/e2e-ro')).status, 404);
  });

  await t.test('a write token retries, edits, pauses and resumes', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(server.writeToken);
    upstream.modes.set('tok-exp', 'complete');
    await row(page, 'tok-exp').getByRole('button', { name: 'Retry item tok-exp' }).click();
    await cell(page, 'tok-exp', 'state').getByText('completed', { exact: true }).waitFor({ timeout: 20_000 });

    await row(page, 'tok-held').getByRole('button', { name: 'Edit item tok-held' }).click();
    await page.getByLabel('New data, as JSON').fill('{"n": 3}');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await cell(page, 'tok-held', 'data').filter({ hasText: '{"n":3}' }).waitFor();

    await page.getByRole('button', { name: 'Pause' }).click();
    await page.locator('#paused-state', { hasText: 'Paused' }).waitFor();
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.locator('#paused-state', { hasText: 'Syncing' }).waitFor();
  });

  await page.context().close();
  assert.deepEqual(problems.filter((p) => !statusLine.test(p)), [], 'the page had errors');
});
