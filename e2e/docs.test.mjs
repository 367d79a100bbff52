// Swagger UI at /docs in a real browser, under the Content-Security-Policy
// the server sends with it: the operations list renders, and "Try it out"
// calls this server and shows its answer. Any CSP violation fails the test,
// whether the browser logs it to the console or fires a
// securitypolicyviolation event, as does any other console error.
//
// Imported by dashboard.test.mjs (make test-e2e runs that file), or run on
// its own with `node --test docs.test.mjs` in e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { launch, openPage } from './lib/browser.mjs';
import { build, start } from './lib/procs.mjs';

const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'out');

test('Swagger UI works under its Content-Security-Policy', async (t) => {
  const server = await start(build('server'), ['--addr', '127.0.0.1:0', '--in-memory']);
  const browser = await launch();
  t.after(async () => {
    await browser.close();
    await server.stop('SIGKILL');
  });
  const problems = [];
  const page = await openPage(browser, { width: 1280, height: 860 }, problems);
  // Violations are also logged to the console, but the event is the
  // browser's own record of each one, with the directive that refused it.
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} refused ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  page.on('console', (msg) => {
    if (/Content.Security.Policy/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
  });

  const resp = await page.goto(server.url + '/docs');
  const csp = resp.headers()['content-security-policy'] ?? '';
  assert.match(csp, /connect-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe/);
  assert.equal(resp.headers()['x-content-type-options'], 'nosniff');

  await t.test('renders the operations list', async () => {
    await page.locator('#operations-caches-listCaches').waitFor({ timeout: 20_000 });
    await page.locator('#operations-items-createItem').waitFor();
    assert.ok(await page.locator('.opblock').count() >= 9, 'fewer operations than the API has');
  });

  await t.test('"Try it out" calls this server', async () => {
    const op = page.locator('#operations-caches-listCaches');
    await op.locator('.opblock-summary').first().click();
    await op.getByRole('button', { name: 'Try it out' }).click();
    const call = page.waitForResponse((r) => r.url() === `${server.url}/v1/caches`);
    await op.getByRole('button', { name: 'Execute' }).click();
    assert.equal((await call).status(), 200);
    await op.locator('.live-responses-table .response-col_status', { hasText: '200' }).waitFor();
    await op.locator('.live-responses-table', { hasText: '"caches"' }).waitFor();
    await page.screenshot({ path: path.join(OUT, 'docs-try-it-out.png'), fullPage: false });
  });

  const violations = await page.evaluate(() => window.__cspViolations);
  await page.context().close();
  assert.deepEqual(violations, [], 'Content-Security-Policy violations');
  assert.deepEqual(problems, [], 'the page had errors');
});
