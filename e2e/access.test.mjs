// The open server's defences in a real browser: Swagger UI's "Try it out"
// still writes (same origin), a page of another site that posts a form to
// the server is refused, and a page that reaches the server through a name
// rebound to 127.0.0.1 (Chromium's host resolver rules stand in for the
// attacker's DNS) gets 421 instead of the dashboard.
//
// Imported by dashboard.test.mjs (make test-e2e runs that file), or run on
// its own with `node --test access.test.mjs` in e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { chromium } from 'playwright-core';

import { CHROMIUM, launch, openPage } from './lib/browser.mjs';
import { build, start } from './lib/procs.mjs';

test('an open server refuses cross-site writes and rebound names, and Swagger UI still writes', async (t) => {
  const server = await start(build('server'), [
    '--addr', '127.0.0.1:0', '--in-memory', '--allow-webhook-cidrs', '127.0.0.0/8',
  ]);
  const port = new URL(server.url).port;
  // The attacker's site: another origin and another site ("localhost" is
  // not "127.0.0.1"), with a form that posts itself to the server.
  const attacker = createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(`<!doctype html><form method="POST" enctype="${req.url.includes('plain') ? 'text/plain' : 'application/x-www-form-urlencoded'}"
      action="${server.url}/v1/caches/jobs/sync"><input name="a" value="b"></form>
      <script>document.forms[0].submit()</script>`);
  });
  attacker.listen(0, '127.0.0.1');
  await once(attacker, 'listening');
  const browser = await launch();
  const rebinding = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', `--host-resolver-rules=MAP rebind.attacker.example 127.0.0.1`],
  });
  t.after(async () => {
    await browser.close();
    await rebinding.close();
    attacker.close();
    await server.stop('SIGKILL');
  });
  const put = await fetch(`${server.url}/v1/caches/jobs`, {
    method: 'PUT', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ webhook: { url: 'http://127.0.0.1:1/sync' }, resyncPeriod: '1h' }),
  });
  assert.equal(put.status, 201, await put.text());

  await t.test('Swagger UI "Try it out" queues a sync (a write without a body)', async () => {
    const problems = [];
    const page = await openPage(browser, { width: 1280, height: 860 }, problems);
    await page.goto(server.url + '/docs');
    const op = page.locator('#operations-caches-syncCache');
    await op.waitFor({ timeout: 20_000 });
    await op.locator('.opblock-summary').first().click();
    await op.getByRole('button', { name: 'Try it out' }).click();
    await op.locator('input[placeholder="cache"]').fill('jobs');
    const call = page.waitForResponse((r) => r.url() === `${server.url}/v1/caches/jobs/sync`);
    await op.getByRole('button', { name: 'Execute' }).click();
    const res = await call;
    assert.equal(res.status(), 202, await res.text());
    await page.context().close();
    assert.deepEqual(problems, [], 'the page had errors');
  });

  for (const kind of ['urlencoded', 'plain']) {
    await t.test(`a ${kind} form posted from another site is refused`, async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const answer = page.waitForResponse((r) => r.url() === `${server.url}/v1/caches/jobs/sync`);
      await page.goto(`http://localhost:${attacker.address().port}/${kind}`);
      const res = await answer;
      assert.equal(res.status(), 403);
      assert.equal((await res.json()).code, 'FORBIDDEN');
      await context.close();
    });
  }

  await t.test('a page on a name rebound to 127.0.0.1 gets 421', async () => {
    const context = await rebinding.newContext();
    const page = await context.newPage();
    const res = await page.goto(`http://rebind.attacker.example:${port}/`);
    assert.equal(res.status(), 421);
    const own = await page.goto(`http://localhost:${port}/`);
    assert.equal(own.status(), 200);
    await context.close();
  });
});
