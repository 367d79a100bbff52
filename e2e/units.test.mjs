// The dashboard's pure helpers, run in Node (they touch no DOM): the map
// from a validation message to the config form's field, the sparkline's
// ring and deltas, the "in …" times and the state of an item.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { describe, ApiError } from '../web/static/api.js';
import { durationMs, fieldOf, hiddenConfig } from '../web/static/forms.js';
import { until } from '../web/static/format.js';
import { stateOf } from '../web/static/items.js';
import { CAPACITY, Ring, SAMPLE_MS, Series, WINDOW_MS } from '../web/static/spark.js';

test('a validation message names the form field it is about', () => {
  const cases = [
    ['resyncPeriod: must be between 10ms and 168h0m0s', 'resyncPeriod', 'must be between 10ms and 168h0m0s'],
    ['webhook.url: host "10.0.0.1" is a private address', 'webhook.url', 'host "10.0.0.1" is a private address'],
    ['body.webhook.url: minimum string length is 1', 'webhook.url', 'minimum string length is 1'],
    ['retry.maxAttempts: must be between 0 (unlimited) and 100', 'retry.maxAttempts', 'must be between 0 (unlimited) and 100'],
    ['body.retry.maxAttempts: number must be at least 0', 'retry.maxAttempts', 'number must be at least 0'],
    ['retry.maxBackoff: must be between 0 and 8760h0m0s', 'retry.maxBackoff', 'must be between 0 and 8760h0m0s'],
    ['itemTTL: must be between 0 (none) and 8760h0m0s', 'itemTTL', 'must be between 0 (none) and 8760h0m0s'],
    ['batchSize: must be between 1 and 1000', 'batchSize', 'must be between 1 and 1000'],
    ['body.batchSize: value must be an integer', 'batchSize', 'value must be an integer'],
    ['cache: name must match ^[a-z0-9]', 'cache', 'name must match ^[a-z0-9]'],
    ['path.cache: string doesn\'t match the regular expression', 'cache', 'string doesn\'t match the regular expression'],
  ];
  for (const [message, field, text] of cases) {
    assert.deepEqual(fieldOf(message), { field, text }, message);
  }
  // Fields the form does not have, and messages that name none.
  for (const message of [
    'webhook.secret: must be "whsec_" followed by standard base64',
    'webhook.headers: at most 20 headers',
    'rateLimit.qps: must be above 0 and at most 100000',
    'body: property "retry" is unsupported',
    'the cache is being deleted',
    '',
    undefined,
  ]) {
    assert.equal(fieldOf(message), null, String(message));
  }
});

test('an edit from the page would drop what the server does not show', () => {
  const view = { webhook: { url: 'http://127.0.0.1:9/sync', secretSet: false, headers: {} } };
  assert.deepEqual(hiddenConfig(view), []);
  assert.deepEqual(hiddenConfig({ webhook: { ...view.webhook, secretSet: true } }), ['a webhook secret']);
  assert.deepEqual(hiddenConfig({ webhook: { ...view.webhook, headers: { 'X-Key': '***' } } }), ['webhook headers']);
  assert.deepEqual(hiddenConfig({ webhook: { ...view.webhook, url: 'http://127.0.0.1:9/sync?token=***' } }),
    ['query values in its webhook URL']);
});

test('errors are said with what to do', () => {
  assert.match(describe(new ApiError(403, 'FORBIDDEN', 'x')), /^this token may only read\. Sign out and enter a write token/);
  assert.match(describe(new ApiError(412, 'PRECONDITION_FAILED', 'x')), /changed meanwhile.*[Rr]eload/);
  assert.equal(describe(new ApiError(400, 'INVALID', 'bad')), 'bad (INVALID)');
});

test('the ring keeps the last values, oldest first', () => {
  const r = new Ring(3);
  assert.deepEqual(r.toArray(), []);
  assert.equal(r.last(), undefined);
  for (let i = 1; i <= 5; i++) r.push(i);
  assert.deepEqual(r.toArray(), [3, 4, 5]);
  assert.equal(r.last(), 5);
  assert.equal(r.length, 3);
});

test('the sparkline\'s series keeps one point per interval, bounded, and counts increases', () => {
  const s = new Series();
  const t0 = 1_000_000;
  assert.equal(s.sample(t0, 10, 1), true);
  assert.equal(s.sample(t0 + SAMPLE_MS - 1, 11, 1), false, 'too soon');
  assert.equal(s.sample(t0 + SAMPLE_MS, 14, 2), true);
  // The counters went down: the cache was registered again.
  s.sample(t0 + 2 * SAMPLE_MS, 3, 0);
  assert.deepEqual(s.deltas(t0 + 2 * SAMPLE_MS), [
    { t: t0 + SAMPLE_MS, syncs: 4, errors: 1 },
    { t: t0 + 2 * SAMPLE_MS, syncs: 3, errors: 0 },
  ]);
  // Hours of polling keep CAPACITY points, within the window.
  for (let i = 3; i < 2000; i++) s.sample(t0 + i * SAMPLE_MS, i, 0);
  assert.equal(s.ring.length, CAPACITY);
  const now = t0 + 1999 * SAMPLE_MS;
  const ds = s.deltas(now);
  assert.equal(ds.length, CAPACITY - 1);
  assert.ok(ds.every((d) => now - d.t <= WINDOW_MS && d.syncs === 1));
});

test('next syncs read as "in …"', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(until(null, now), '—');
  assert.equal(until('2026-01-01T00:00:12Z', now), 'in 12 s');
  assert.equal(until('2026-01-01T00:05:00Z', now), 'in 5 min');
  assert.equal(until('2026-01-01T03:00:00Z', now), 'in 3 h');
  assert.equal(until('2025-12-31T23:59:00Z', now), 'due now');
});

test('an item\'s state is the server\'s, or its terminal flag from an older server', () => {
  assert.equal(stateOf({ state: 'failed', terminal: true }), 'failed');
  assert.equal(stateOf({ state: 'expired' }), 'expired');
  assert.equal(stateOf({ terminal: true }), 'completed');
  assert.equal(stateOf({ terminal: false }), 'active');
  assert.equal(stateOf({ state: 'bogus', terminal: false }), 'active');
});

test('Go durations are read as the server writes them', () => {
  assert.equal(durationMs('10s'), 10_000);
  assert.equal(durationMs('1m40s'), 100_000);
  assert.equal(durationMs('1h0m0s'), 3_600_000);
  assert.equal(durationMs('1.5h'), 5_400_000);
  assert.equal(durationMs('500ms'), 500);
  assert.equal(durationMs('16m40s'), 1_000_000);
  assert.ok(Number.isNaN(durationMs('soon')));
  assert.ok(Number.isNaN(durationMs(undefined)));
});
