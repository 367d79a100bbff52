// The dashboard in a real browser: a person registers nothing by hand, but
// sees a cache appear, creates an item from the page, watches it reach
// Completed without reloading, deletes it and sees it go. Screenshots go to
// e2e/out/. Any console error fails the test.
//
// Run with `make test-e2e` (which installs Chromium and playwright-core if
// they are missing), or `node --test` in e2e/ once they are there.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { launch, openPage } from './lib/browser.mjs';
import { build, start } from './lib/procs.mjs';

const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'out');
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };

let upstream;
let server;
let browser;
const problems = [];

before(async () => {
  mkdirSync(OUT, { recursive: true });
  const serverBin = build('server');
  const upstreamBin = build('example-upstream');
  upstream = await start(upstreamBin, ['--addr', '127.0.0.1:0']);
  server = await start(serverBin, [
    '--addr', '127.0.0.1:0',
    '--allow-webhook-cidrs', '127.0.0.0/8',
    '--in-memory',
    '--shutdown-timeout', '20s',
  ]);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop('SIGKILL');
  await upstream?.stop('SIGKILL');
});

/** Calls the server's API from the test, as a client program would. */
async function api(method, urlPath, body) {
  const res = await fetch(server.url + urlPath, {
    method,
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${urlPath}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const row = (page, id) => page.locator(`#items tbody tr[data-id="${id}"]`);

test('the dashboard shows a cache and its items live', async (t) => {
  const page = await openPage(browser, DESKTOP, problems);
  let loads = 0;
  page.on('load', () => loads++);

  await t.test('opens on an empty server', async () => {
    await page.goto(server.url + '/');
    await page.getByText('No caches yet').waitFor();
    assert.equal(await page.title(), 'autorefresh');
    assert.equal(await page.getByRole('navigation').getByRole('link', { name: 'API docs' }).getAttribute('href'), '/docs');
    assert.equal(await page.getByRole('navigation').getByRole('link', { name: 'Metrics' }).getAttribute('href'), '/metrics');
  });

  await t.test('shows a cache registered through the API', async () => {
    await api('PUT', '/v1/caches/e2e-jobs', { webhook: { url: `${upstream.url}/sync` }, resyncPeriod: '1s' });
    const card = page.locator('.card[data-name="e2e-jobs"]');
    await card.waitFor();
    await card.getByText(`${upstream.url}/sync`).waitFor();
    await card.getByText('every 1s').waitFor();
    // The first cache is picked by itself and its stream goes live.
    await page.locator('#current-cache', { hasText: 'e2e-jobs' }).waitFor();
    await page.locator('#live[data-state="live"]').waitFor();
  });

  await t.test('creates an item from the page and sees it reach Completed', async () => {
    await page.getByLabel('Id').fill('job-1');
    await page.getByLabel('Data (JSON)').fill('{"status": "Not-started"}');
    await page.getByRole('button', { name: 'Create item' }).click();
    await row(page, 'job-1').waitFor();
    // The example upstream moves it to Started, then to Completed; the row
    // follows from the event stream alone.
    await row(page, 'job-1').locator('td[data-col="data"]', { hasText: '"Completed"' }).waitFor({ timeout: 20_000 });
    await row(page, 'job-1').locator('td[data-col="terminal"]', { hasText: 'yes' }).waitFor();
    assert.equal(await row(page, 'job-1').locator('td[data-col="version"]').textContent(), '3');
    // The counters follow too, with rates once two polls are in.
    const card = page.locator('.card[data-name="e2e-jobs"]');
    await card.locator('dd', { hasText: '/s' }).first().waitFor();
  });

  await t.test('queues a sync', async () => {
    await page.getByRole('button', { name: 'Sync now' }).click();
    await page.getByText('Sync of e2e-jobs queued.').waitFor();
  });

  await t.test('looks right at desktop width', async () => {
    await api('POST', '/v1/caches/e2e-jobs/items', { id: 'job-2', data: { status: 'Not-started', owner: 'e2e' } });
    await row(page, 'job-2').waitFor();
    await page.screenshot({ path: path.join(OUT, 'dashboard-desktop.png'), fullPage: true });
  });

  await t.test('deletes an item from the page and sees it go', async () => {
    const del = row(page, 'job-1').getByRole('button', { name: 'Delete item job-1' });
    await del.click();
    await del.click(); // the first click asks for confirmation
    await row(page, 'job-1').waitFor({ state: 'detached', timeout: 20_000 });
    await row(page, 'job-2').waitFor();
  });

  await t.test('reads well on a phone', async () => {
    await page.setViewportSize(PHONE);
    await row(page, 'job-2').locator('td[data-col="terminal"]', { hasText: 'yes' }).waitFor({ timeout: 20_000 });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `the page is ${width}px wide on a ${PHONE.width}px screen`);
    await page.screenshot({ path: path.join(OUT, 'dashboard-phone.png'), fullPage: true });
  });

  assert.equal(loads, 1, 'the page was reloaded');
  await page.context().close();
  assert.deepEqual(problems, [], 'the page had errors');
});

test('shutting down ends open event streams at once', async () => {
  // An open stream must not hold up SIGTERM until the shutdown timeout.
  const res = await fetch(`${server.url}/v1/caches/e2e-jobs/events`);
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  await reader.read(); // the stream's first bytes: it is registered
  const t0 = Date.now();
  const { code } = await server.stop('SIGTERM', 30_000);
  const took = Date.now() - t0;
  assert.equal(code, 0, server.tail());
  assert.ok(took < 10_000, `shutdown took ${took} ms with a stream open`);
  for (;;) {
    const { done } = await reader.read();
    if (done) break;
  }
});
