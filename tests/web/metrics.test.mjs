// GET /metrics of serve and of the projector (its own loopback port, LEDGER_PROJECTOR_METRICS_PORT): the
// Prometheus text format that `promtool check metrics` (Debian prometheus) accepts without a complaint,
// with the families an operator needs, moving as the ledger works. No key is needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { env, call, uniqueSerial } from './support.mjs';

const PROMTOOL = process.env.LEDGER_PROMTOOL ?? '/usr/bin/promtool';

function promtoolCheck(text) {
  const run = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}

async function scrape(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(10000) });
  assert.equal(res.status, 200, url);
  assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  return res.text();
}

// The value of a sample line `name{labels} value` whose labels include all of `labels`, summed.
function sample(text, name, labels = {}) {
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      total += Number(m[3]);
      found = true;
    }
  }
  return found ? total : undefined;
}

test('serve /metrics: promtool accepts it; requests, commands and pools are counted', async () => {
  const serial = uniqueSerial('METRICS');
  const reg = await call('POST', '/register', {
    key: env.keys.issuer,
    body: { registry: 'Test Registry', serial_number: serial, project_name: 'Metrics', vintage: 2024, quantity: 5 },
  });
  assert.equal(reg.status, 201);
  await call('GET', `/records/${reg.json.id}?min_version=1`, { key: env.keys.issuer });
  const res = await call('GET', '/metrics');
  assert.equal(res.status, 200, 'no key needed');
  const text = await scrape(env.baseUrl + '/metrics');
  const check = promtoolCheck(text);
  assert.equal(check.status, 0, check.output);
  assert.equal(check.output, '', 'no lint complaint');
  for (const family of ['ledger_http_requests_total', 'ledger_http_request_duration_seconds_bucket',
    'ledger_commands_total', 'ledger_append_batch_size_commands_bucket', 'ledger_command_queue_depth',
    'ledger_api_key_reloads_total', 'ledger_db_connections_in_use', 'ledger_db_reconnects_total']) {
    assert.notEqual(sample(text, family), undefined, `${family} is exposed`);
  }
  assert.ok(sample(text, 'ledger_http_requests_total', { route: '/register', method: 'POST', status: '201' }) >= 1);
  assert.ok(sample(text, 'ledger_commands_total', { type: 'register' }) >= 1);
});

test('projector /metrics: promtool accepts it; position and events applied move', async () => {
  const before = await scrape(env.metricsUrl);
  const check = promtoolCheck(before);
  assert.equal(check.status, 0, check.output);
  assert.equal(check.output, '', 'no lint complaint');
  const applied = sample(before, 'ledger_projector_events_applied_total') ?? 0;
  const reg = await call('POST', '/register', {
    key: env.keys.issuer,
    body: { registry: 'Test Registry', serial_number: uniqueSerial('PMETRICS'), project_name: 'M', vintage: 2024, quantity: 5 },
  });
  assert.equal(reg.status, 201);
  const seen = await call('GET', `/records/${reg.json.id}?min_version=1`, { key: env.keys.issuer });
  assert.equal(seen.status, 200);
  const after = await scrape(env.metricsUrl);
  assert.ok(sample(after, 'ledger_projector_events_applied_total') > applied, 'events applied moved');
  assert.ok(sample(after, 'ledger_projector_position') > 0, 'position moved');
  assert.notEqual(sample(after, 'ledger_projector_lag_seconds'), undefined);
  assert.notEqual(sample(after, 'ledger_projector_batch_duration_seconds_bucket'), undefined);
});
