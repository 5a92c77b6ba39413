// Contract tests: real requests to a running ledger (scripts/web-test.sh starts one), each response checked
// against server/web/openapi.json: its status must be documented for the operation, the header fields the
// document declares required must be there, every declared header field that is there must match its
// schema, and the body must match the schema of the response's media type (Ajv, JSON Schema 2020-12, $refs
// resolved inside the document). The last test checks that every operation of the document was exercised.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';

import { ROOT, requireWeb, env, call, uniqueSerial } from './support.mjs';

const Ajv2020 = requireWeb('ajv/dist/2020').default ?? requireWeb('ajv/dist/2020');
const addFormats = requireWeb('ajv-formats').default ?? requireWeb('ajv-formats');

const DOC_PATH = path.join(ROOT, 'server/web/openapi.json');
const doc = JSON.parse(fs.readFileSync(DOC_PATH, 'utf8'));
const DOC_ID = 'openapi.json';

const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false });
addFormats(ajv);
// The document is added whole, so the $refs of its schemas resolve into its components; its top-level
// OpenAPI members are not JSON Schema keywords and are declared so that strict mode (which still catches
// a misspelt keyword inside a schema) accepts the root.
ajv.addVocabulary(['openapi', 'info', 'jsonSchemaDialect', 'servers', 'security', 'tags', 'paths', 'webhooks',
  'components', 'externalDocs']);
ajv.addSchema(doc, DOC_ID);

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const allOperations = new Set();
for (const [p, item] of Object.entries(doc.paths)) {
  for (const m of METHODS) if (item[m]) allOperations.add(`${m.toUpperCase()} ${p}`);
}
const exercised = new Set();

// --- JSON pointers into the document ---

const escapeToken = (t) => String(t).replaceAll('~', '~0').replaceAll('/', '~1');
const pointerOf = (tokens) => tokens.map(escapeToken).map(encodeURIComponent).map((t) => `/${t}`).join('');

function at(tokens) {
  let node = doc;
  for (const t of tokens) {
    node = node?.[t];
    if (node === undefined) throw new Error(`no ${tokens.join(' / ')} in the document`);
  }
  return node;
}

// Follows a local $ref ("#/components/...") to [tokens, node].
function follow(tokens) {
  let node = at(tokens);
  for (let hops = 0; node && typeof node.$ref === 'string' && hops < 10; hops += 1) {
    assert.ok(node.$ref.startsWith('#/'), `only local refs: ${node.$ref}`);
    tokens = node.$ref.slice(2).split('/').map((t) => decodeURIComponent(t).replaceAll('~1', '/').replaceAll('~0', '~'));
    node = at(tokens);
  }
  return [tokens, node];
}

const validators = new Map();
function validatorAt(tokens) {
  const key = pointerOf(tokens);
  if (!validators.has(key)) validators.set(key, ajv.compile({ $ref: `${DOC_ID}#${key}` }));
  return validators.get(key);
}

function assertValid(tokens, value, what) {
  const validate = validatorAt(tokens);
  if (!validate(value)) {
    assert.fail(`${what} does not match ${pointerOf(tokens)}:\n${ajv.errorsText(validate.errors, { separator: '\n' })}\n` +
      `value: ${JSON.stringify(value)?.slice(0, 2000)}`);
  }
}

const baseType = (mediaType) => mediaType.split(';')[0].trim().toLowerCase();
function mediaParams(mediaType) {
  const out = {};
  for (const part of mediaType.split(';').slice(1)) {
    const [k, v = ''] = part.split('=');
    out[k.trim().toLowerCase()] = v.trim().replace(/^"|"$/g, '');
  }
  return out;
}

// Checks one response of the operation "METHOD /path" (as the document spells the path) against the
// document; returns it for chaining.
function check(operation, res, { expectStatus } = {}) {
  exercised.add(operation);
  const [method, p] = operation.split(' ');
  assert.ok(doc.paths[p]?.[method.toLowerCase()], `${operation} is not in the document`);
  if (expectStatus !== undefined) {
    assert.equal(res.status, expectStatus, `${operation}: expected ${expectStatus}, got ${res.status}: ${res.text.slice(0, 500)}`);
  }
  const status = String(res.status);
  const opTokens = ['paths', p, method.toLowerCase()];
  assert.ok(at(opTokens).responses[status],
    `${operation}: status ${status} is not documented (body: ${res.text.slice(0, 500)})`);
  const [respTokens, response] = follow([...opTokens, 'responses', status]);

  for (const name of Object.keys(response.headers ?? {})) {
    const [hTokens, header] = follow([...respTokens, 'headers', name]);
    const value = res.headers.get(name);
    if (header.required) assert.notEqual(value, null, `${operation} ${status}: header ${name} is required`);
    if (value !== null && header.schema) assertValid([...hTokens, 'schema'], value, `${operation} ${status} header ${name}`);
  }

  const contentType = res.headers.get('content-type');
  if (!response.content) {
    assert.equal(res.text, '', `${operation} ${status}: no body documented`);
    return res;
  }
  assert.ok(contentType, `${operation} ${status}: no Content-Type`);
  const key = Object.keys(response.content).find((k) => {
    if (baseType(k) !== baseType(contentType)) return false;
    const want = mediaParams(k);
    const got = mediaParams(contentType);
    return Object.entries(want).every(([n, v]) => got[n] === v);
  });
  assert.ok(key, `${operation} ${status}: Content-Type ${contentType} is not one of ${Object.keys(response.content).join(', ')}`);
  const bodyTokens = [...respTokens, 'content', key, 'schema'];
  if (!response.content[key].schema) return res;
  const isJson = baseType(key) === 'application/json' || baseType(key).endsWith('+json');
  if (isJson) {
    assert.notEqual(res.json, undefined, `${operation} ${status}: body is not JSON: ${res.text.slice(0, 300)}`);
    assertValid(bodyTokens, res.json, `${operation} ${status} body`);
  } else if (at(bodyTokens).type === 'string' && !at(bodyTokens).contentMediaType) {
    assertValid(bodyTokens, res.text, `${operation} ${status} body`);
  }
  return res;
}

function assertProblem(res, status, slug) {
  assert.equal(res.status, status, `expected ${status} ${slug}, got ${res.status}: ${res.text.slice(0, 500)}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(res.json?.type, `/problems/${slug}`, `expected /problems/${slug}: ${res.text.slice(0, 500)}`);
  assert.equal(res.json.status, status);
}

// One request written byte for byte on its own connection (for what fetch cannot send: repeated header
// lines, no Host), read until the server closes. The same shape as call()'s answer.
function rawRequest(head) {
  const url = new URL(env.baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    const chunks = [];
    socket.setTimeout(10000, () => socket.destroy(new Error('raw request timed out')));
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const raw = Buffer.concat(chunks).toString('latin1');
      const split = raw.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no response head: ${JSON.stringify(raw.slice(0, 200))}`));
      const lines = raw.slice(0, split).split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1]);
      const headers = new Headers();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
      const length = Number(headers.get('content-length') ?? 0);
      const text = Buffer.from(raw.slice(split + 4), 'latin1').subarray(0, length).toString('utf8');
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      resolve({ status, headers, text, json });
    });
    socket.write(head);
  });
}

// --- Helpers that talk to the ledger ---

const K = {
  get issuer() { return env.keys.issuer; },
  get holder() { return env.keys.holder; },
  get auditor() { return env.keys.auditor; },
  get admin() { return env.keys.admin; },
};
const REGISTRY = 'Test Registry';

function registerBody(overrides = {}) {
  return { project_name: 'Contract Test Project', registry: REGISTRY, vintage: 2021, quantity: 100,
    serial_number: uniqueSerial('CONTRACT'), ...overrides };
}

async function register(overrides = {}) {
  const body = registerBody(overrides);
  const res = check('POST /register', await call('POST', '/register', { key: K.issuer, body }), { expectStatus: 201 });
  return { id: res.json.id, body, res };
}

// Polls GET /records/{id} (up to 5 s) until the read model holds at least `version`; returns the response.
async function waitForRecord(id, version = 1, query = '') {
  const deadline = Date.now() + 5000;
  let res;
  for (;;) {
    res = await call('GET', `/records/${id}${query}`, { key: K.auditor });
    if (res.status === 200 && res.json?.version >= version) return res;
    if (Date.now() > deadline) assert.fail(`record ${id} did not reach version ${version} in 5 s: ${res.status} ${res.text.slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A credit sold whole to web-holder (version 2): what retire needs.
async function soldCredit(quantity = 100) {
  const { id } = await register({ quantity });
  const sold = check('POST /records/{id}/sell',
    await call('POST', `/records/${id}/sell`, { key: K.issuer, body: { buyer: 'web-holder' } }), { expectStatus: 200 });
  assert.equal(sold.json.status, 'SOLD');
  return id;
}

const MISSING_ID = '00000000-0000-4000-8000-000000000001';

// --- Operations ---

test('GET /healthz: 200 {"status":"ok"} without a key; 405 for POST', async () => {
  const res = check('GET /healthz', await call('GET', '/healthz'), { expectStatus: 200 });
  assert.deepEqual(res.json, { status: 'ok' });
  const wrong = check('GET /healthz', await call('POST', '/healthz'), { expectStatus: 405 });
  assertProblem(wrong, 405, 'method-not-allowed');
  assert.equal(wrong.headers.get('allow'), 'GET, HEAD');
});

test('X-Request-Id: a printable one is echoed, a bad one replaced by a UUID', async () => {
  const mine = check('GET /healthz', await call('GET', '/healthz', { headers: { 'X-Request-Id': 'contract-req-0001' } }));
  assert.equal(mine.headers.get('x-request-id'), 'contract-req-0001');
  const spaced = check('GET /healthz', await call('GET', '/healthz', { headers: { 'X-Request-Id': 'has a space' } }));
  assert.match(spaced.headers.get('x-request-id'), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('POST /register: 201 new, 200 identical again, 409 already-registered with other attributes', async () => {
  const { id, body, res } = await register();
  assert.equal(res.headers.get('location'), `/records/${id}`);
  assert.equal(res.headers.get('etag'), '"1"');
  assert.equal(res.json.status, 'CREATED');
  assert.equal(res.json.holder, 'web-issuer');
  assert.equal(res.json.block_start, 1);
  assert.equal(res.json.block_end, 100);
  assert.equal(res.json.remainder, undefined);

  const again = check('POST /register', await call('POST', '/register', { key: K.issuer, body }), { expectStatus: 200 });
  assert.equal(again.json.id, id);
  assert.equal(again.headers.get('etag'), '"1"');

  const other = check('POST /register',
    await call('POST', '/register', { key: K.issuer, body: { ...body, quantity: 101 } }), { expectStatus: 409 });
  assertProblem(other, 409, 'already-registered');
  assert.deepEqual([...other.json.differing_fields].sort(), ['block_end', 'quantity']);
});

test('POST /register: block_start/block_end and a string vintage; unknown fields are ignored', async () => {
  const { res } = await register({ quantity: undefined, block_start: 1001, block_end: 2000, vintage: '2024', note: 'ignored' });
  assert.equal(res.json.quantity, 1000);
  assert.equal(res.json.vintage, 2024);
  assert.equal(res.json.block_start, 1001);
});

test('POST /register: 422 invalid-fields, 400 malformed-json, 415, 401, 403', async () => {
  const bad = check('POST /register', await call('POST', '/register', {
    key: K.issuer, body: { project_name: '', registry: REGISTRY, vintage: 1800, quantity: 1.5, serial_number: uniqueSerial() },
  }), { expectStatus: 422 });
  assertProblem(bad, 422, 'invalid-fields');
  assert.deepEqual(bad.json.errors.map((e) => e.field).sort(), ['project_name', 'quantity', 'vintage']);

  const tooLong = check('POST /register', await call('POST', '/register', {
    key: K.issuer, body: registerBody({ project_name: 'x'.repeat(201) }),
  }), { expectStatus: 422 });
  assert.equal(tooLong.json.errors[0].field, 'project_name');

  const notJson = check('POST /register', await call('POST', '/register', { key: K.issuer, body: '{"project_name": ' }),
    { expectStatus: 400 });
  assertProblem(notJson, 400, 'malformed-json');
  const notObject = check('POST /register', await call('POST', '/register', { key: K.issuer, body: '[1, 2]' }));
  assertProblem(notObject, 400, 'malformed-json');

  const text = check('POST /register', await call('POST', '/register', {
    key: K.issuer, body: JSON.stringify(registerBody()), headers: { 'Content-Type': 'text/plain' },
  }), { expectStatus: 415 });
  assertProblem(text, 415, 'unsupported-media-type');

  const noKey = check('POST /register', await call('POST', '/register', { body: registerBody() }), { expectStatus: 401 });
  assertProblem(noKey, 401, 'unauthorized');
  assert.equal(noKey.headers.get('www-authenticate'), 'Bearer realm="carbon-ledger"');
  const badKey = check('POST /register', await call('POST', '/register', { key: 'clk_nope_nope', body: registerBody() }),
    { expectStatus: 401 });
  assert.equal(badKey.headers.get('www-authenticate'), 'Bearer realm="carbon-ledger", error="invalid_token"');

  const auditor = check('POST /register', await call('POST', '/register', { key: K.auditor, body: registerBody() }),
    { expectStatus: 403 });
  assertProblem(auditor, 403, 'forbidden');
  const holder = check('POST /register', await call('POST', '/register', { key: K.holder, body: registerBody() }),
    { expectStatus: 403 });
  assertProblem(holder, 403, 'forbidden');
  const unbound = check('POST /register', await call('POST', '/register', {
    key: K.issuer, body: registerBody({ registry: 'Unbound Registry' }),
  }), { expectStatus: 403 });
  assertProblem(unbound, 403, 'registry-not-bound');
  assert.equal(unbound.json.errors[0].field, 'registry');

  const wrongMethod = check('POST /register', await call('GET', '/register', { key: K.issuer }), { expectStatus: 405 });
  assertProblem(wrongMethod, 405, 'method-not-allowed');
  assert.equal(wrongMethod.headers.get('allow'), 'POST');
});

test('POST /register: 409 units-already-issued (Verra numbering) and 409 confusable-credit', async () => {
  const start = Date.now() * 100 + (process.pid % 100);
  const first = `${process.pid}-${start}-${start + 99}-VCS-VCU-1507-VER-WEB-14-1340-01012020-31122020-1`;
  const created = check('POST /register', await call('POST', '/register', {
    key: K.issuer, body: { project_name: 'Verra Contract', registry: 'Verra', vintage: 2020, serial_number: first },
  }), { expectStatus: 201 });
  assert.equal(created.json.block_start, start);
  assert.equal(created.json.quantity, 100);
  const second = `${process.pid + 1}-${start + 50}-${start + 149}-VCS-VCU-1507-VER-WEB-14-1340-01012020-31122020-1`;
  const overlap = check('POST /register', await call('POST', '/register', {
    key: K.issuer, body: { project_name: 'Verra Contract', registry: 'Verra', vintage: 2020, serial_number: second },
  }), { expectStatus: 409 });
  assertProblem(overlap, 409, 'units-already-issued');
  assert.deepEqual(overlap.json.overlapping, { id: created.json.id, serial_number: first, block_start: start, block_end: start + 99 });

  const serial = uniqueSerial('CONFUSABLE');
  const { id } = await register({ serial_number: serial });
  const lookalike = check('POST /register', await call('POST', '/register', {
    key: K.issuer, body: registerBody({ serial_number: serial.toLowerCase() }),
  }), { expectStatus: 409 });
  assertProblem(lookalike, 409, 'confusable-credit');
  assert.equal(lookalike.json.confusable_with, id);
});

test('Idempotency-Key: replay, reuse for another request (422), invalid (400)', async () => {
  const body = registerBody();
  const key = `contract-${uniqueSerial('IDEM')}`;
  const first = check('POST /register', await call('POST', '/register', { key: K.issuer, body, headers: { 'Idempotency-Key': key } }),
    { expectStatus: 201 });
  assert.equal(first.headers.get('idempotency-replayed'), null);
  const replay = check('POST /register', await call('POST', '/register', { key: K.issuer, body, headers: { 'Idempotency-Key': key } }),
    { expectStatus: 201 });
  assert.equal(replay.headers.get('idempotency-replayed'), 'true');
  assert.equal(replay.text, first.text);
  assert.equal(replay.headers.get('location'), first.headers.get('location'));

  const reused = check('POST /register', await call('POST', '/register', {
    key: K.issuer, body: { ...body, quantity: 5 }, headers: { 'Idempotency-Key': key },
  }), { expectStatus: 422 });
  assertProblem(reused, 422, 'idempotency-key-reused');
  assert.equal(reused.json.errors[0].field, 'Idempotency-Key');

  const invalid = check('POST /register', await call('POST', '/register', {
    key: K.issuer, body, headers: { 'Idempotency-Key': 'x'.repeat(256) },
  }), { expectStatus: 400 });
  assertProblem(invalid, 400, 'invalid-idempotency-key');
});

test('POST /records/{id}/sell: whole, partial (remainder), 404, 412, 400, 422, 409, 403, 405', async () => {
  const { id } = await register({ quantity: 100 });
  const partial = check('POST /records/{id}/sell', await call('POST', `/records/${id}/sell`, {
    key: K.issuer, body: { buyer: 'web-holder', quantity: 10 }, headers: { 'If-Match': '"1"' },
  }), { expectStatus: 200 });
  assert.equal(partial.json.status, 'SOLD');
  assert.equal(partial.json.quantity, 10);
  assert.equal(partial.json.parent, id);
  assert.equal(partial.headers.get('location'), `/records/${partial.json.id}`);
  assert.deepEqual(partial.json.remainder, { id, quantity: 90, block_start: 11, block_end: 100, version: 2 });

  const whole = check('POST /records/{id}/sell',
    await call('POST', `/records/${id}/sell`, { key: K.issuer, body: { buyer: 'web-holder' } }), { expectStatus: 200 });
  assert.equal(whole.json.id, id);
  assert.equal(whole.json.status, 'SOLD');
  assert.equal(whole.json.remainder, undefined);
  assert.equal(whole.headers.get('etag'), '"3"');

  const missing = check('POST /records/{id}/sell',
    await call('POST', `/records/${MISSING_ID}/sell`, { key: K.issuer, body: { buyer: 'web-holder' } }), { expectStatus: 404 });
  assertProblem(missing, 404, 'credit-not-found');

  const stale = check('POST /records/{id}/sell', await call('POST', `/records/${id}/sell`, {
    key: K.holder, body: { buyer: 'web-holder' }, headers: { 'If-Match': '"1"' },
  }), { expectStatus: 412 });
  assertProblem(stale, 412, 'precondition-failed');
  assert.equal(stale.headers.get('etag'), '"3"');

  const badIfMatch = check('POST /records/{id}/sell', await call('POST', `/records/${id}/sell`, {
    key: K.holder, body: { buyer: 'web-holder' }, headers: { 'If-Match': 'three' },
  }), { expectStatus: 400 });
  assertProblem(badIfMatch, 400, 'invalid-if-match');

  const badId = check('POST /records/{id}/sell',
    await call('POST', '/records/not-a-uuid/sell', { key: K.issuer, body: { buyer: 'web-holder' } }), { expectStatus: 400 });
  assertProblem(badId, 400, 'invalid-id');

  const unknownBuyer = check('POST /records/{id}/sell',
    await call('POST', `/records/${id}/sell`, { key: K.holder, body: { buyer: 'nobody-at-all' } }), { expectStatus: 422 });
  assertProblem(unknownBuyer, 422, 'unknown-buyer');

  const noBuyer = check('POST /records/{id}/sell',
    await call('POST', `/records/${id}/sell`, { key: K.holder, body: { quantity: 0 } }), { expectStatus: 422 });
  assertProblem(noBuyer, 422, 'invalid-fields');
  assert.deepEqual(noBuyer.json.errors.map((e) => e.field).sort(), ['buyer', 'quantity']);

  const tooMany = check('POST /records/{id}/sell',
    await call('POST', `/records/${id}/sell`, { key: K.holder, body: { buyer: 'web-holder', quantity: 91 } }), { expectStatus: 409 });
  assertProblem(tooMany, 409, 'quantity-exceeds-block');
  assert.equal(tooMany.json.available, 90);

  const notHolder = check('POST /records/{id}/sell',
    await call('POST', `/records/${id}/sell`, { key: K.issuer, body: { buyer: 'web-holder' } }), { expectStatus: 403 });
  assertProblem(notHolder, 403, 'forbidden');

  const wrongMethod = check('POST /records/{id}/sell', await call('GET', `/records/${id}/sell`, { key: K.issuer }), { expectStatus: 405 });
  assertProblem(wrongMethod, 405, 'method-not-allowed');
});

test('POST /records/{id}/retire: whole, partial, 409 invalid-status, 422, 404, 403, 401, 405', async () => {
  const id = await soldCredit(100);
  const partial = check('POST /records/{id}/retire', await call('POST', `/records/${id}/retire`, {
    key: K.holder, body: { quantity: 5, category: 'corporate_inventory', details: 'FY2026' },
  }), { expectStatus: 200 });
  assert.equal(partial.json.status, 'RETIRED');
  assert.deepEqual(partial.json.retirement, { beneficiary: null, reason: null, category: 'corporate_inventory', details: 'FY2026' });
  assert.equal(partial.json.remainder.quantity, 95);

  const whole = check('POST /records/{id}/retire', await call('POST', `/records/${id}/retire`, {
    key: K.holder, body: { beneficiary: 'Acme Corp', reason: 'offset' },
  }), { expectStatus: 200 });
  assert.equal(whole.json.status, 'RETIRED');
  assert.equal(whole.json.id, id);

  const again = check('POST /records/{id}/retire', await call('POST', `/records/${id}/retire`, { key: K.holder }),
    { expectStatus: 409 });
  assertProblem(again, 409, 'invalid-status');
  assert.equal(again.json.current_status, 'RETIRED');

  const { id: created } = await register();
  const notSold = check('POST /records/{id}/retire', await call('POST', `/records/${created}/retire`, { key: K.issuer, body: {} }),
    { expectStatus: 409 });
  assertProblem(notSold, 409, 'invalid-status');
  assert.equal(notSold.json.current_status, 'CREATED');

  const badCategory = check('POST /records/{id}/retire',
    await call('POST', `/records/${created}/retire`, { key: K.issuer, body: { category: 'fun' } }), { expectStatus: 422 });
  assertProblem(badCategory, 422, 'invalid-fields');
  assert.equal(badCategory.json.errors[0].field, 'category');

  const missing = check('POST /records/{id}/retire', await call('POST', `/records/${MISSING_ID}/retire`, { key: K.holder }),
    { expectStatus: 404 });
  assertProblem(missing, 404, 'credit-not-found');
  const auditor = check('POST /records/{id}/retire', await call('POST', `/records/${id}/retire`, { key: K.auditor }),
    { expectStatus: 403 });
  assertProblem(auditor, 403, 'forbidden');
  const noKey = check('POST /records/{id}/retire', await call('POST', `/records/${id}/retire`), { expectStatus: 401 });
  assertProblem(noKey, 401, 'unauthorized');
  check('POST /records/{id}/retire', await call('GET', `/records/${id}/retire`), { expectStatus: 405 });
});

test('POST /records/{id}/cancel: partial, whole, 409 invalid-status, 422, 404, 412, 405', async () => {
  const { id } = await register({ quantity: 100 });
  const partial = check('POST /records/{id}/cancel', await call('POST', `/records/${id}/cancel`, {
    key: K.issuer, body: { reason: 'issued in error', quantity: 5 },
  }), { expectStatus: 200 });
  assert.equal(partial.json.status, 'CANCELLED');
  assert.deepEqual(partial.json.cancellation, { reason: 'issued in error' });
  assert.deepEqual(partial.json.remainder, { id, quantity: 95, block_start: 6, block_end: 100, version: 2 });

  const stale = check('POST /records/{id}/cancel', await call('POST', `/records/${id}/cancel`, {
    key: K.issuer, body: { reason: 'x' }, headers: { 'If-Match': '"1"' },
  }), { expectStatus: 412 });
  assertProblem(stale, 412, 'precondition-failed');

  const whole = check('POST /records/{id}/cancel', await call('POST', `/records/${id}/cancel`, {
    key: K.issuer, body: { reason: 'withdrawn' }, headers: { 'If-Match': '"2"' },
  }), { expectStatus: 200 });
  assert.equal(whole.json.status, 'CANCELLED');
  assert.equal(whole.headers.get('etag'), '"3"');

  const sold = await soldCredit();
  const notCreated = check('POST /records/{id}/cancel',
    await call('POST', `/records/${sold}/cancel`, { key: K.issuer, body: { reason: 'too late' } }), { expectStatus: 409 });
  assertProblem(notCreated, 409, 'invalid-status');
  assert.equal(notCreated.json.current_status, 'SOLD');

  const noReason = check('POST /records/{id}/cancel', await call('POST', `/records/${sold}/cancel`, { key: K.issuer, body: {} }),
    { expectStatus: 422 });
  assertProblem(noReason, 422, 'invalid-fields');
  assert.equal(noReason.json.errors[0].field, 'reason');

  const missing = check('POST /records/{id}/cancel',
    await call('POST', `/records/${MISSING_ID}/cancel`, { key: K.issuer, body: { reason: 'x' } }), { expectStatus: 404 });
  assertProblem(missing, 404, 'credit-not-found');
  check('POST /records/{id}/cancel', await call('GET', `/records/${id}/cancel`), { expectStatus: 405 });
});

test('GET /records/{id} and /record/{id}: the record with history pages; 400, 404, 401, 405', async () => {
  const { id } = await register({ quantity: 100 });
  const sold = check('POST /records/{id}/sell', await call('POST', `/records/${id}/sell`, {
    key: K.issuer, body: { buyer: 'web-holder', quantity: 10 },
  }), { expectStatus: 200 });
  const res = check('GET /records/{id}', await waitForRecord(id, 2), { expectStatus: 200 });
  assert.equal(res.headers.get('etag'), '"2"');
  assert.equal(res.json.children_count, 1);
  assert.deepEqual(res.json.history.map((h) => h.type), ['CREATED', 'SPLIT']);
  assert.equal(res.json.history[1].data.child, sold.json.id);
  assert.equal(res.json.history_next, null);

  const page = check('GET /records/{id}', await call('GET', `/records/${id}?history_limit=1`, { key: K.holder }), { expectStatus: 200 });
  assert.equal(page.json.history.length, 1);
  assert.equal(page.json.history_next, 1);
  const next = check('GET /records/{id}', await call('GET', `/records/${id}?history_limit=1&history_after=1`, { key: K.holder }),
    { expectStatus: 200 });
  assert.equal(next.json.history[0].version, 2);
  assert.equal(next.json.history_next, null);

  const child = check('GET /records/{id}', await waitForRecord(sold.json.id, 2), { expectStatus: 200 });
  assert.deepEqual(child.json.history.map((h) => h.type), ['CARVED', 'SOLD']);

  const legacy = check('GET /record/{id}', await call('GET', `/record/${id}/`, { key: K.auditor }), { expectStatus: 200 });
  assert.equal(legacy.json.id, id);
  check('GET /record/{id}', await call('GET', `/record/${MISSING_ID}`, { key: K.auditor }), { expectStatus: 404 });
  check('GET /record/{id}', await call('GET', `/record/${id}?history_limit=x`, { key: K.auditor }), { expectStatus: 400 });

  const badLimit = check('GET /records/{id}', await call('GET', `/records/${id}?history_limit=1001`, { key: K.auditor }),
    { expectStatus: 400 });
  assertProblem(badLimit, 400, 'invalid-parameter');
  assert.equal(badLimit.json.errors[0].field, 'history_limit');
  const repeated = check('GET /records/{id}', await call('GET', `/records/${id}?history_after=1&history_after=2`, { key: K.auditor }),
    { expectStatus: 400 });
  assert.equal(repeated.json.errors[0].field, 'query');
  const badId = check('GET /records/{id}', await call('GET', '/records/xyz', { key: K.auditor }), { expectStatus: 400 });
  assertProblem(badId, 400, 'invalid-id');
  const missing = check('GET /records/{id}', await call('GET', `/records/${MISSING_ID}`, { key: K.auditor }), { expectStatus: 404 });
  assertProblem(missing, 404, 'credit-not-found');
  check('GET /records/{id}', await call('GET', `/records/${id}`), { expectStatus: 401 });
  const wrongMethod = check('GET /records/{id}', await call('POST', `/records/${id}`, { key: K.auditor }), { expectStatus: 405 });
  assert.equal(wrongMethod.headers.get('allow'), 'GET, HEAD');

  const head = await call('HEAD', `/records/${id}`, { key: K.auditor });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('etag'), '"2"');
  assert.equal(head.text, '');
});

test('GET /records/{id}?min_version: 200 once reached, 504 version-not-reached beyond, 400 when bad', async () => {
  const { id } = await register();
  const reached = check('GET /records/{id}', await call('GET', `/records/${id}?min_version=1`, { key: K.auditor }),
    { expectStatus: 200 });
  assert.equal(reached.json.version, 1);
  const timedOut = check('GET /records/{id}', await call('GET', `/records/${id}?min_version=6`, { key: K.auditor }),
    { expectStatus: 504 });
  assertProblem(timedOut, 504, 'version-not-reached');
  assert.equal(timedOut.json.min_version, 6);
  assert.equal(timedOut.json.version, 1);
  const legacy = check('GET /record/{id}', await call('GET', `/record/${id}?min_version=1`, { key: K.auditor }), { expectStatus: 200 });
  assert.equal(legacy.json.version, 1);
  const bad = check('GET /records/{id}', await call('GET', `/records/${id}?min_version=0`, { key: K.auditor }), { expectStatus: 400 });
  assertProblem(bad, 400, 'invalid-parameter');
  assert.equal(bad.json.errors[0].field, 'min_version');
});

test('GET /records: filters, paging with Link, 400 invalid-parameter, 401, 405', async () => {
  const holderName = 'web-holder';
  const ids = [];
  for (let i = 0; i < 3; i += 1) ids.push(await soldCredit(10));
  for (const id of ids) await waitForRecord(id, 2);
  // vintage 2031 is used by this test alone, with holder and status to be sure.
  const mine = [];
  for (let i = 0; i < 3; i += 1) {
    const { id } = await register({ vintage: 2031, quantity: 7 });
    mine.push(id);
  }
  for (const id of mine) await waitForRecord(id, 1);
  const query = `/records?registry=${encodeURIComponent(REGISTRY.toLowerCase())}&vintage=2031&status=CREATED&holder=web-issuer&limit=2`;
  const first = check('GET /records', await call('GET', query, { key: K.auditor }), { expectStatus: 200 });
  assert.equal(first.json.records.length, 2);
  assert.ok(first.json.next);
  const link = first.headers.get('link');
  assert.ok(link, 'a next page has a Link');
  const target = /^<([^>]+)>; rel="next"$/.exec(link)[1];
  assert.ok(target.endsWith(`cursor=${first.json.next}`));
  const seen = first.json.records.map((r) => r.id);
  let page = first;
  let pages = 1;
  let nextTarget = target;
  while (page.json.next) {
    page = check('GET /records', await call('GET', nextTarget, { key: K.auditor }), { expectStatus: 200 });
    seen.push(...page.json.records.map((r) => r.id));
    pages += 1;
    nextTarget = page.headers.get('link') ? /^<([^>]+)>/.exec(page.headers.get('link'))[1] : null;
    assert.ok(pages < 100);
  }
  assert.equal(page.headers.get('link'), null);
  for (const id of mine) assert.ok(seen.includes(id), `${id} is listed`);
  for (const r of [...first.json.records, ...page.json.records]) {
    assert.equal(r.vintage, 2031);
    assert.equal(r.status, 'CREATED');
  }

  const held = check('GET /records', await call('GET', `/records?holder=${holderName}&status=SOLD&limit=500`, { key: K.holder }),
    { expectStatus: 200 });
  for (const id of ids) assert.ok(held.json.records.some((r) => r.id === id));

  // A partial sale: its child is listed by parent, and by unit.
  const { id: parent } = await register({ quantity: 50 });
  const carved = check('POST /records/{id}/sell', await call('POST', `/records/${parent}/sell`, {
    key: K.issuer, body: { buyer: holderName, quantity: 4 },
  }), { expectStatus: 200 });
  await waitForRecord(carved.json.id, 2);
  const children = check('GET /records', await call('GET', `/records?parent=${parent}`, { key: K.auditor }), { expectStatus: 200 });
  assert.deepEqual(children.json.records.map((r) => r.id), [carved.json.id]);
  assert.equal(children.json.next, null);

  const bad = check('GET /records', await call('GET', '/records?status=sold', { key: K.auditor }), { expectStatus: 400 });
  assertProblem(bad, 400, 'invalid-parameter');
  assert.equal(bad.json.errors[0].field, 'status');
  const unit = check('GET /records', await call('GET', '/records?unit=5', { key: K.auditor }), { expectStatus: 400 });
  assert.equal(unit.json.errors[0].field, 'unit');
  const limit = check('GET /records', await call('GET', '/records?limit=501', { key: K.auditor }), { expectStatus: 400 });
  assert.equal(limit.json.errors[0].field, 'limit');
  const cursor = check('GET /records', await call('GET', '/records?cursor=abc', { key: K.auditor }), { expectStatus: 400 });
  assert.equal(cursor.json.errors[0].field, 'cursor');
  check('GET /records', await call('GET', '/records'), { expectStatus: 401 });
  check('GET /records', await call('POST', '/records', { key: K.auditor }), { expectStatus: 405 });
});

test('GET /records?registry&serial_number: the blocks of one serial number; 400 without registry', async () => {
  const serial = uniqueSerial('BYSERIAL');
  const { id } = await register({ serial_number: serial, quantity: 20 });
  const carved = check('POST /records/{id}/sell', await call('POST', `/records/${id}/sell`, {
    key: K.issuer, body: { buyer: 'web-holder', quantity: 5 },
  }), { expectStatus: 200 });
  await waitForRecord(carved.json.id, 2);
  await waitForRecord(id, 2);
  await register();  // another serial, not to be listed
  const res = check('GET /records', await call('GET',
    `/records?registry=${encodeURIComponent(REGISTRY)}&serial_number=${encodeURIComponent(serial)}`, { key: K.auditor }),
  { expectStatus: 200 });
  assert.deepEqual(res.json.records.map((r) => r.id).sort(), [id, carved.json.id].sort());
  for (const r of res.json.records) assert.equal(r.serial_number, serial);
  const alone = check('GET /records', await call('GET', `/records?serial_number=${encodeURIComponent(serial)}`, { key: K.auditor }),
    { expectStatus: 400 });
  assertProblem(alone, 400, 'invalid-parameter');
  assert.equal(alone.json.errors[0].field, 'serial_number');
});

test('request limits: 413 body-too-large, 431 headers-too-large, 404 not-found for an unknown path', async () => {
  const big = await call('POST', '/register', { key: K.issuer, body: JSON.stringify({ pad: 'x'.repeat(70 * 1024) }) })
    .catch((e) => ({ error: e }));
  if (!big.error) {
    check('POST /register', big, { expectStatus: 413 });
    assertProblem(big, 413, 'body-too-large');
  } else {
    assert.fail(`413: the connection failed before an answer: ${big.error}`);
  }
  const huge = await call('GET', '/healthz', { headers: { 'X-Padding': 'y'.repeat(9 * 1024) } });
  check('GET /healthz', huge, { expectStatus: 431 });
  assertProblem(huge, 431, 'headers-too-large');
  const unknown = await call('GET', '/no/such/endpoint');
  assertProblem(unknown, 404, 'not-found');
});

test('request heads: 400 repeated-header, missing-host, bad-request', async () => {
  const url = new URL(env.baseUrl);
  const repeated = check('GET /records', await rawRequest(
    `GET /records HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${K.auditor}\r\n` +
    `Authorization: Bearer ${K.admin}\r\nConnection: close\r\n\r\n`), { expectStatus: 400 });
  assertProblem(repeated, 400, 'repeated-header');
  assert.deepEqual(repeated.json.errors, [{ field: 'Authorization', message: 'must appear at most once' }]);
  const noHost = check('GET /healthz', await rawRequest('GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'),
    { expectStatus: 400 });
  assertProblem(noHost, 400, 'missing-host');
  const http10 = check('GET /healthz', await rawRequest('GET /healthz HTTP/1.0\r\n\r\n'), { expectStatus: 200 });
  assert.deepEqual(http10.json, { status: 'ok' });
  const malformed = check('POST /register', await rawRequest(
    `POST /register HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: abc\r\n\r\n`), { expectStatus: 400 });
  assertProblem(malformed, 400, 'bad-request');
});

test('GET /openapi.json: this document, without a key', async () => {
  const res = check('GET /openapi.json', await call('GET', '/openapi.json'), { expectStatus: 200 });
  assert.match(res.headers.get('content-type'), /^application\/json/);
  assert.deepEqual(res.json, doc);
  check('GET /openapi.json', await call('POST', '/openapi.json'), { expectStatus: 405 });
});

test('GET /version: version, commit, build_type, schema_version', async () => {
  const res = check('GET /version', await call('GET', '/version'), { expectStatus: 200 });
  assert.equal(typeof res.json.version, 'string');
  assert.ok(Number.isInteger(res.json.schema_version));
});

test('GET /metrics: Prometheus text format 0.0.4, without a key', async () => {
  const res = check('GET /metrics', await call('GET', '/metrics'), { expectStatus: 200 });
  const type = res.headers.get('content-type');
  assert.equal(baseType(type), 'text/plain');
  assert.equal(mediaParams(type).version, '0.0.4');
  assert.match(res.text, /^# (HELP|TYPE) /m);
});

test('GET /docs, GET /, GET /assets/{name}: the web pages and their files, without a key', async () => {
  const missing = await call('GET', '/assets/no-such-file.js');
  const docs = await call('GET', '/docs');
  const explorer = await call('GET', '/');
  // All three checked (and so counted as exercised) before any failure is reported.
  const failures = [];
  for (const [operation, res, verify] of [
    ['GET /assets/{name}', missing, () => assertProblem(missing, 404, 'asset-not-found')],
    ['GET /docs', docs, () => assert.match(docs.headers.get('content-type'), /^text\/html/)],
    ['GET /', explorer, () => assert.match(explorer.headers.get('content-type'), /^text\/html/)],
  ]) {
    try {
      check(operation, res, { expectStatus: operation.startsWith('GET /assets') ? 404 : 200 });
      verify();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
  const assets = new Set();
  for (const html of [docs.text, explorer.text]) {
    for (const m of html.matchAll(/["'(](?:\.?\/)?assets\/([A-Za-z0-9._-]+)/g)) assets.add(m[1]);
  }
  assert.ok(assets.size > 0, 'the pages load files from /assets/');
  for (const name of assets) {
    check('GET /assets/{name}', await call('GET', `/assets/${name}`), { expectStatus: 200 });
  }
});

// --- The verifiable log (project seals it: scripts/web-test.sh gives it a signing key) ---

// Polls GET /log/checkpoint (up to 10 s) until a checkpoint covers at least `minSize` leaves; returns it.
async function waitForCheckpoint(minSize = 1) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const res = await call('GET', '/log/checkpoint', { key: K.auditor });
    if (res.status === 200 && Number(res.text.split('\n')[1]) >= minSize) return res;
    if (Date.now() > deadline) assert.fail(`no checkpoint of ${minSize} leaves in 10 s: ${res.status} ${res.text.slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Registers a credit and waits until a checkpoint covers it; returns that checkpoint's tree size.
async function sealedSize() {
  const before = await call('GET', '/log/checkpoint', { key: K.auditor });
  const sealed = before.status === 200 ? Number(before.text.split('\n')[1]) : 0;
  await register();
  const res = await waitForCheckpoint(sealed + 1);
  return Number(res.text.split('\n')[1]);
}

// GET /events as Server-Sent Events on its own connection, read until `events` events arrived (the stream stays
// open, so it is then closed from here). The same shape as call()'s answer; text is what arrived after the head.
function eventStream(pathAndQuery, { key, headers = {}, events = 1 } = {}) {
  const url = new URL(env.baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let raw = '';
    const extra = Object.entries(headers).map(([n, v]) => `${n}: ${v}\r\n`).join('');
    socket.setTimeout(10000, () => socket.destroy(new Error('event stream timed out')));
    socket.on('error', reject);
    const finish = () => {
      const split = raw.indexOf('\r\n\r\n');
      const lines = raw.slice(0, split).split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1]);
      const h = new Headers();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        h.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
      const text = raw.slice(split + 4);
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      socket.destroy();
      resolve({ status, headers: h, text, json });
    };
    socket.on('data', (c) => {
      raw += c.toString('utf8');
      const split = raw.indexOf('\r\n\r\n');
      if (split < 0) return;
      if (!/^HTTP\/1\.[01] 200/.test(raw) || (raw.slice(split).match(/\nevent: ledger-event\n/g) ?? []).length >= events) finish();
    });
    socket.on('close', () => { if (raw.includes('\r\n\r\n')) finish(); else reject(new Error('closed before a head')); });
    socket.write(`GET ${pathAndQuery} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${key}\r\n` +
      `Accept: text/event-stream\r\n${extra}\r\n`);
  });
}

test('GET /log/checkpoint and /log/public-key: the signed note and its verifier key; 401', async () => {
  const size = await sealedSize();
  const res = check('GET /log/checkpoint', await call('GET', '/log/checkpoint', { key: K.auditor }), { expectStatus: 200 });
  assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
  const lines = res.text.split('\n');
  assert.ok(Number(lines[1]) >= size);
  assert.match(lines[2], /^[A-Za-z0-9+/]{43}=$/);
  assert.match(lines[4], /^\u2014 \S+ [A-Za-z0-9+/]+=*$/);
  const key = check('GET /log/public-key', await call('GET', '/log/public-key', { key: K.holder }), { expectStatus: 200 });
  assert.ok(key.text.startsWith(`${lines[0]}+`), `${key.text} names the origin ${lines[0]}`);
  assertProblem(check('GET /log/checkpoint', await call('GET', '/log/checkpoint'), { expectStatus: 401 }), 401, 'unauthorized');
  assertProblem(check('GET /log/public-key', await call('GET', '/log/public-key'), { expectStatus: 401 }), 401, 'unauthorized');
});

test('GET /log/consistency: proofs between sizes; second defaults to the latest; 400 naming the parameter', async () => {
  const size = await sealedSize();
  const res = check('GET /log/consistency', await call('GET', `/log/consistency?first=1&second=${size}`, { key: K.auditor }), { expectStatus: 200 });
  assert.equal(res.json.first, 1);
  assert.equal(res.json.second, size);
  const latest = check('GET /log/consistency', await call('GET', '/log/consistency?first=0', { key: K.auditor }), { expectStatus: 200 });
  assert.ok(latest.json.second >= size);
  assert.deepEqual(latest.json.proof, []);
  const bad = check('GET /log/consistency', await call('GET', '/log/consistency?first=x', { key: K.auditor }), { expectStatus: 400 });
  assertProblem(bad, 400, 'invalid-parameter');
  assert.equal(bad.json.errors[0].field, 'first');
  const beyond = check('GET /log/consistency', await call('GET', `/log/consistency?first=0&second=${size + 1000000}`, { key: K.auditor }), { expectStatus: 400 });
  assert.equal(beyond.json.errors[0].field, 'second');
  check('GET /log/consistency', await call('GET', '/log/consistency?first=0'), { expectStatus: 401 });
});

test('GET /log/leaves: a page of leaves with hashes; 400 naming the parameter', async () => {
  const size = await sealedSize();
  const res = check('GET /log/leaves', await call('GET', `/log/leaves?start=0&end=${size}`, { key: K.auditor }), { expectStatus: 200 });
  assert.equal(res.json.start, 0);
  assert.equal(res.json.leaves.length, Math.min(size, 1000));
  assert.equal(res.json.leaves[0].leaf_index, 0);
  assert.equal(typeof JSON.parse(res.json.leaves[0].leaf_data).event_id, 'string');
  const bad = check('GET /log/leaves', await call('GET', '/log/leaves?start=2&end=2', { key: K.auditor }), { expectStatus: 400 });
  assert.equal(bad.json.errors[0].field, 'start');
  const beyond = check('GET /log/leaves', await call('GET', `/log/leaves?start=0&end=${size + 1000000}`, { key: K.auditor }), { expectStatus: 400 });
  assert.equal(beyond.json.errors[0].field, 'end');
  check('GET /log/leaves', await call('GET', '/log/leaves?start=0&end=1'), { expectStatus: 401 });
});

test('GET /records/{id}/proof: the proof bundle once sealed; 400, 404, 401', async () => {
  const { id } = await register();
  const deadline = Date.now() + 10000;
  let res;
  for (;;) {
    res = check('GET /records/{id}/proof', await call('GET', `/records/${id}/proof`, { key: K.auditor }));
    if (res.status === 200 && res.json.events.length === 1) break;
    if (Date.now() > deadline) assert.fail(`no sealed proof in 10 s: ${res.status} ${res.text.slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(res.json.record_id, id);
  assert.equal(res.json.events[0].event_type, 'CREATED');
  assert.equal(res.json.pending_events, 0);
  assertProblem(check('GET /records/{id}/proof', await call('GET', '/records/nope/proof', { key: K.auditor }), { expectStatus: 400 }), 400, 'invalid-id');
  assertProblem(check('GET /records/{id}/proof', await call('GET', `/records/${MISSING_ID}/proof`, { key: K.auditor }), { expectStatus: 404 }), 404, 'credit-not-found');
  check('GET /records/{id}/proof', await call('GET', `/records/${id}/proof`), { expectStatus: 401 });
});

test('GET /events: pages in leaf order, a long poll at the head, an event stream; 400, 401', async () => {
  await sealedSize();
  const first = check('GET /events', await call('GET', '/events?limit=2', { key: K.auditor }), { expectStatus: 200 });
  assert.equal(first.json.events.length, 2);
  assert.deepEqual(first.json.events.map((e) => e.leaf_index), [0, 1]);
  assert.deepEqual(first.json.events[0].event, JSON.parse(first.json.events[0].leaf_data));
  const second = check('GET /events', await call('GET', first.json.next, { key: K.auditor }), { expectStatus: 200 });
  assert.equal(second.json.events[0].leaf_index, 2);
  // The head: follow next until a page is empty, then a long poll of 1 s answers with nothing new.
  let next = first.json.next;
  for (let i = 0; i < 1000; i += 1) {
    const page = await call('GET', next.replace('limit=2', 'limit=1000'), { key: K.auditor });
    if (page.json.events.length === 0) { next = page.json.next; break; }
    next = page.json.next;
  }
  const started = Date.now();
  const quiet = check('GET /events', await call('GET', `${next}&wait=1`, { key: K.auditor }), { expectStatus: 200 });
  assert.ok(Date.now() - started >= 900);
  assert.deepEqual(quiet.json.events, []);
  assert.equal(quiet.json.next, next);
  const bad = check('GET /events', await call('GET', '/events?after=%21', { key: K.auditor }), { expectStatus: 400 });
  assert.equal(bad.json.errors[0].field, 'after');
  const badLimit = check('GET /events', await call('GET', '/events?limit=0', { key: K.auditor }), { expectStatus: 400 });
  assert.equal(badLimit.json.errors[0].field, 'limit');
  check('GET /events', await call('GET', '/events'), { expectStatus: 401 });
  // As Server-Sent Events, resuming after the first event.
  const stream = check('GET /events', await eventStream('/events', { key: K.auditor, headers: { 'Last-Event-ID': first.json.events[0].cursor }, events: 1 }),
    { expectStatus: 200 });
  assert.equal(baseType(stream.headers.get('content-type')), 'text/event-stream');
  assert.equal(stream.headers.get('cache-control'), 'no-store');
  assert.match(stream.text, /^retry: \d+\n\n/);
  assert.ok(stream.text.includes(`id: ${first.json.events[1].cursor}\nevent: ledger-event\ndata: ${first.json.events[1].leaf_data}\n\n`),
    stream.text.slice(0, 500));
});

test('GET /records/{id}/certificate and .../certificate.proof: page, PDF, bundle; 409, 404, 400, 401, 405', async () => {
  const id = await soldCredit(100);
  check('POST /records/{id}/retire', await call('POST', `/records/${id}/retire`, {
    key: K.holder, body: { beneficiary: 'Acme <Corp>', reason: 'offset', category: 'corporate_inventory' },
  }), { expectStatus: 200 });
  await waitForRecord(id, 3);
  // The log is sealed every 100 ms: 409 not-yet-in-log (with Retry-After) until the RETIRED event is in.
  const deadline = Date.now() + 5000;
  let proof;
  for (;;) {
    proof = check('GET /records/{id}/certificate.proof', await call('GET', `/records/${id}/certificate.proof`, { key: K.auditor }));
    if (proof.status === 200) break;
    assertProblem(proof, 409, 'not-yet-in-log');
    assert.equal(proof.headers.get('retry-after'), '1');
    if (Date.now() > deadline) assert.fail(`no certificate within 5 s: ${proof.text.slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const cert = proof.json.certificate;
  assert.equal(cert.record_id, id);
  assert.equal(cert.beneficiary, 'Acme <Corp>');
  assert.equal(cert.details, null);
  assert.equal(cert.quantity, 100);
  const retired = proof.json.events.find((e) => e.event_type === 'RETIRED');
  assert.equal(cert.retirement_leaf_index, retired.leaf_index);
  assert.equal(cert.retirement_leaf_hash, retired.leaf_hash);

  const page = check('GET /records/{id}/certificate', await call('GET', `/records/${id}/certificate`, { key: K.auditor }),
    { expectStatus: 200 });
  assert.match(page.headers.get('content-type'), /^text\/html; charset=utf-8/);
  assert.match(page.headers.get('content-security-policy'), /default-src 'none'; style-src 'unsafe-inline'/);
  assert.ok(page.text.includes('Acme &lt;Corp&gt;'), 'the beneficiary is shown, escaped');
  assert.ok(!page.text.includes('<Corp>'));
  assert.ok(page.text.includes(`<td>${proof.json.tree_size}</td>`), 'the checkpoint size is shown');

  // PDF printing takes seconds: a longer timeout than call()'s.
  const pdfRes = await fetch(`${env.baseUrl}/records/${id}/certificate?format=pdf`, {
    headers: { Authorization: `Bearer ${K.auditor}` }, signal: AbortSignal.timeout(60000),
  });
  const pdfBytes = Buffer.from(await pdfRes.arrayBuffer());
  const pdfText = pdfBytes.toString('latin1');
  let pdfJson;
  try { pdfJson = JSON.parse(pdfText); } catch { pdfJson = undefined; }
  const pdf = check('GET /records/{id}/certificate', { status: pdfRes.status, headers: pdfRes.headers, text: pdfText, json: pdfJson });
  if (pdf.status === 501) {
    assertProblem(pdf, 501, 'pdf-unavailable');  // no Chromium on this machine
  } else {
    assert.equal(pdf.status, 200, pdfText.slice(0, 300));
    assert.equal(pdf.headers.get('content-type'), 'application/pdf');
    assert.equal(pdfText.slice(0, 5), '%PDF-');
  }

  const { id: created } = await register();
  await waitForRecord(created, 1);
  for (const suffix of ['certificate', 'certificate.proof']) {
    const op = `GET /records/{id}/${suffix}`;
    const notRetired = check(op, await call('GET', `/records/${created}/${suffix}`, { key: K.auditor }), { expectStatus: 409 });
    assertProblem(notRetired, 409, 'not-retired');
    assert.equal(notRetired.json.current_status, 'CREATED');
    assertProblem(check(op, await call('GET', `/records/${MISSING_ID}/${suffix}`, { key: K.auditor }), { expectStatus: 404 }),
      404, 'credit-not-found');
    assertProblem(check(op, await call('GET', `/records/not-a-uuid/${suffix}`, { key: K.auditor }), { expectStatus: 400 }),
      400, 'invalid-id');
    assertProblem(check(op, await call('GET', `/records/${id}/${suffix}`), { expectStatus: 401 }), 401, 'unauthorized');
    check(op, await call('POST', `/records/${id}/${suffix}`, { key: K.auditor }), { expectStatus: 405 });
  }
  const badFormat = check('GET /records/{id}/certificate',
    await call('GET', `/records/${id}/certificate?format=xyz`, { key: K.auditor }), { expectStatus: 400 });
  assertProblem(badFormat, 400, 'invalid-parameter');
  assert.equal(badFormat.json.errors[0].field, 'format');
});

test('every operation of the document was exercised', () => {
  const missed = [...allOperations].filter((op) => !exercised.has(op));
  assert.deepEqual(missed, [], `operations not exercised: ${missed.join(', ')}`);
  assert.equal(exercised.size, allOperations.size);
});
