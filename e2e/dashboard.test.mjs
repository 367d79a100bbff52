// The dashboard in a real browser: a person registers nothing by hand, but
// sees a cache appear, creates an item from the page, watches it reach
// Completed without reloading, deletes it and sees it go. Then the same on a
// server with --auth-tokens-file, through the page's token form. Screenshots
// go to e2e/out/. Any console error fails the test (bar the browser's own
// log line for a 401 or 403 that the test causes on purpose).
//
// Run with `make test-e2e` (which installs Chromium and playwright-core if
// they are missing), or `node --test` in e2e/ once they are there.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { launch, openPage } from './lib/browser.mjs';
import { build, randomToken, start, startWithTokens as startTokened } from './lib/procs.mjs';
// The parser of the page's event stream, tested on its own (no browser).
import './sse.test.mjs';
// The dashboard's other pure helpers (field map, sparkline ring, times).
import './units.test.mjs';
// Swagger UI at /docs under its Content-Security-Policy, with a server and
// browser of its own.
import './docs.test.mjs';
// The open server's Host and cross-site checks, with Swagger UI writing
// through them; a server and browsers of its own.
import './access.test.mjs';
// Per-item control (states, retry, edit, pause, the config form), with and
// without tokens; a server, an upstream and a browser of its own.
import './control.test.mjs';

const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'out');
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };

let serverBin;
let upstream;
let server;
let browser;
const problems = [];

const SERVER_ARGS = [
  '--addr', '127.0.0.1:0',
  '--allow-webhook-cidrs', '127.0.0.0/8',
  '--in-memory',
  '--shutdown-timeout', '20s',
];

before(async () => {
  mkdirSync(OUT, { recursive: true });
  serverBin = build('server');
  const upstreamBin = build('example-upstream');
  upstream = await start(upstreamBin, ['--addr', '127.0.0.1:0']);
  server = await start(serverBin, SERVER_ARGS);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop('SIGKILL');
  await upstream?.stop('SIGKILL');
});

/** Calls a server's API from the test, as a client program would. */
async function callAPI(srv, token, method, urlPath, body) {
  const headers = body ? { 'Content-Type': 'application/json' } : {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(srv.url + urlPath, {
    method,
    headers,
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${urlPath}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Calls the open server's API. */
const api = (method, urlPath, body) => callAPI(server, null, method, urlPath, body);

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

// The browser logs a line of its own for every response with an error
// status, which the page cannot prevent: these are the 401s and 403s that
// the test below causes on purpose. Anything else is a problem.
const statusLine = (code) =>
  new RegExp(`^console error: Failed to load resource: the server responded with a status of ${code} `);

/**
 * Starts a server with --auth-tokens-file: a write and a read token, each
 * 32 random characters. stop() kills it and removes the file.
 */
async function startWithTokens() {
  const srv = await startTokened(serverBin, SERVER_ARGS);
  assert.equal(srv.writeToken.length, 32);
  return srv;
}

test('with --auth-tokens-file the dashboard asks for a token and works with it', async (t) => {
  const authed = await startWithTokens();
  const { writeToken, readToken } = authed;
  const own = []; // this page's console errors
  const page = await openPage(browser, DESKTOP, own);
  try {
    const form = page.getByRole('heading', { name: 'This server needs an access token' });
    const tokenInput = page.getByLabel('Access token', { exact: true });
    const storedToken = () => page.evaluate(() => sessionStorage.getItem('autorefresh.token'));

    await t.test('shows the token form when the API answers 401', async () => {
      // The API really is closed without a token.
      const res = await fetch(`${authed.url}/v1/caches`);
      assert.equal(res.status, 401);
      await page.goto(authed.url + '/');
      await form.waitFor();
      assert.ok(await tokenInput.evaluate((el) => el === document.activeElement), 'the token field has the focus');
      assert.equal(await tokenInput.getAttribute('type'), 'password');
      assert.ok(await page.locator('#caches-section').isHidden());
      assert.ok(await page.getByRole('button', { name: 'Sign out' }).isHidden());
      await page.screenshot({ path: path.join(OUT, 'dashboard-token-form.png'), fullPage: true });
    });

    await t.test('refuses a wrong token', async () => {
      await tokenInput.fill(randomToken());
      await page.getByRole('button', { name: 'Use token' }).click();
      await page.getByText('That token was not accepted').waitFor();
      assert.equal(await tokenInput.getAttribute('aria-invalid'), 'true');
      assert.equal(await storedToken(), null, 'a refused token is not kept');
    });

    const signedIn = own.length; // from here on, no console error at all
    await t.test('takes the write token and keeps it in sessionStorage only', async () => {
      await tokenInput.fill(writeToken);
      const streamed = page.waitForRequest((r) => r.url().endsWith('/v1/caches/e2e-auth/events'));
      await tokenInput.press('Enter');
      await form.waitFor({ state: 'hidden' });
      await page.getByText('No caches yet').waitFor();
      assert.equal(await storedToken(), writeToken);
      assert.equal(await page.evaluate(() => localStorage.length), 0);
      assert.deepEqual(await page.context().cookies(), []);
      assert.ok(!page.url().includes(writeToken));

      await callAPI(authed, writeToken, 'PUT', '/v1/caches/e2e-auth', {
        webhook: { url: `${upstream.url}/sync` },
        resyncPeriod: '1s',
      });
      await page.locator('.card[data-name="e2e-auth"]').waitFor();
      // The stream is read with fetch(), so it carries the token.
      const req = await streamed;
      assert.equal((await req.allHeaders()).authorization, `Bearer ${writeToken}`);
      assert.ok(!req.url().includes(writeToken));
      await page.locator('#live[data-state="live"]').waitFor();
    });

    await t.test('creates an item from the page and sees it reach Completed live', async () => {
      await page.getByLabel('Id').fill('auth-1');
      await page.getByLabel('Data (JSON)').fill('{"status": "Not-started"}');
      await page.getByRole('button', { name: 'Create item' }).click();
      await row(page, 'auth-1').waitFor();
      await row(page, 'auth-1').locator('td[data-col="data"]', { hasText: '"Completed"' }).waitFor({ timeout: 20_000 });
      await row(page, 'auth-1').locator('td[data-col="terminal"]', { hasText: 'yes' }).waitFor();
      assert.equal(await row(page, 'auth-1').locator('td[data-col="version"]').textContent(), '3');
    });

    await t.test('keeps the token over a reload of the tab', async () => {
      await page.reload();
      await row(page, 'auth-1').locator('td[data-col="terminal"]', { hasText: 'yes' }).waitFor();
      await page.locator('#live[data-state="live"]').waitFor();
      assert.ok(await form.isHidden());
      assert.deepEqual(own.slice(signedIn), [], 'console errors while signed in');
    });

    await t.test('signs out, and a read token may only read', async () => {
      await page.getByRole('button', { name: 'Sign out' }).click();
      await form.waitFor();
      await page.getByText('Signed out').waitFor();
      assert.equal(await storedToken(), null);
      assert.ok(await page.locator('#caches-section').isHidden());

      await tokenInput.fill(readToken);
      await page.getByRole('button', { name: 'Use token' }).click();
      await row(page, 'auth-1').locator('td[data-col="terminal"]', { hasText: 'yes' }).waitFor();
      await page.locator('#live[data-state="live"]').waitFor();
      await page.getByLabel('Id').fill('auth-2');
      await page.getByRole('button', { name: 'Create item' }).click();
      await page.getByText('Cannot create auth-2: this token may only read').waitFor();
      assert.equal(await row(page, 'auth-2').count(), 0);
    });

    await page.context().close();
    const unexpected = own.filter((p, i) =>
      i < signedIn ? !statusLine(401).test(p) : !statusLine(403).test(p));
    assert.deepEqual(unexpected, [], 'the page had errors');
  } finally {
    await page.context().close().catch(() => {});
    await authed.stop('SIGKILL');
  }
});

/** Waits until cond() holds, polling. */
async function until(cond, what, ms = 10_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    assert.ok(Date.now() < end, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the page\'s stream reader stops at a 401, sends the token, and resumes with Last-Event-ID', async () => {
  // web/static/stream.js needs only fetch, streams and TextDecoder, which
  // Node has: run it here, where the connection can be cut at will. (In
  // Node, api.js keeps the token in memory: there is no sessionStorage.)
  const { onAuthRequired, setToken } = await import('../web/static/api.js');
  const { ItemStream } = await import('../web/static/stream.js');
  const srv = await startWithTokens();
  const realFetch = globalThis.fetch;
  const sent = []; // the headers of each connection
  let gate = Promise.resolve(); // holds a connection back
  globalThis.fetch = async (url, init) => {
    if (!url.startsWith('/')) return realFetch(url, init); // the test's own calls
    sent.push(init.headers);
    await gate;
    return realFetch(srv.url + url, init);
  };
  const asked = [];
  onAuthRequired((e) => asked.push(e));
  const events = [];
  const states = [];
  let resyncs = 0;
  const watch = () =>
    new ItemStream('e2e-stream', {
      event: (kind, item) => events.push(`${kind} ${item.id}`),
      resync: () => resyncs++,
      state: (s) => states.push(s),
    });
  let stream;
  try {
    const write = (method, urlPath, body) => callAPI(srv, srv.writeToken, method, urlPath, body);
    await write('PUT', '/v1/caches/e2e-stream', { webhook: { url: `${upstream.url}/sync` }, resyncPeriod: '1s' });

    // Without a token: one try, then it stops and asks for one.
    stream = watch();
    stream.open();
    await until(() => !stream.running, 'the stream to give up');
    assert.deepEqual(asked, [{ rejected: false }]);
    assert.equal(sent.length, 1);
    assert.equal(states.at(-1), 'offline');
    stream.close();

    setToken(srv.writeToken);
    sent.length = 0;
    states.length = 0;
    stream = watch();
    stream.open();
    await until(() => states.at(-1) === 'live', 'the stream to open');
    assert.equal(sent[0].Authorization, `Bearer ${srv.writeToken}`);
    assert.equal(sent[0]['Last-Event-ID'], undefined);
    await write('POST', '/v1/caches/e2e-stream/items', { id: 'stream-1', data: null });
    await until(() => events.includes('created stream-1'), 'created stream-1');

    // Cut the connection, and create an item before it comes back.
    let release;
    gate = new Promise((r) => (release = r));
    stream.ctl.abort();
    await until(() => sent.length === 2, 'a reconnection');
    await write('POST', '/v1/caches/e2e-stream/items', { id: 'stream-2', data: null });
    release();
    await until(() => events.includes('created stream-2'), 'created stream-2, replayed');

    assert.match(sent[1]['Last-Event-ID'], /^[0-9]+$/);
    assert.equal(sent[1].Accept, 'text/event-stream');
    assert.equal(sent[1].Authorization, `Bearer ${srv.writeToken}`);
    // The replay brought what was missed, so the list was read only once.
    assert.equal(resyncs, 1);
    assert.deepEqual(states.slice(0, 3), ['connecting', 'live', 'connecting']);
    assert.equal(states.at(-1), 'live');
    assert.equal(asked.length, 1);
  } finally {
    stream?.close();
    setToken(null);
    globalThis.fetch = realFetch;
    await srv.stop('SIGKILL');
  }
});
