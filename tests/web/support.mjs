// Shared by the Node.js tests under tests/web/ (run by scripts/web-test.sh): the packages installed in
// server/web/node_modules, the environment the harness exports, and a small fetch wrapper.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Packages come from server/web/package.json (pinned, lockfile committed): resolve them from there.
export const requireWeb = createRequire(path.join(ROOT, 'server/web/package.json'));

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through scripts/web-test.sh`);
  return value;
}

export const env = {
  get baseUrl() { return need('LEDGER_WEB_BASE_URL'); },
  get metricsUrl() { return need('LEDGER_WEB_METRICS_URL'); },
  get outputDir() { return need('LEDGER_WEB_OUTPUT_DIR'); },
  get databaseUrl() { return need('LEDGER_WEB_DATABASE_URL'); },
  get serveLog() { return need('LEDGER_WEB_SERVE_LOG'); },
  keys: {
    get admin() { return need('LEDGER_WEB_KEY_ADMIN'); },
    get issuer() { return need('LEDGER_WEB_KEY_ISSUER'); },
    get holder() { return need('LEDGER_WEB_KEY_HOLDER'); },
    get auditor() { return need('LEDGER_WEB_KEY_AUDITOR'); },
  },
};

// One request to serve: { status, headers, text, json } (json only when the body parses). Bounded: 10 s.
export async function call(method, pathAndQuery, { key, body, headers = {} } = {}) {
  const h = { ...headers };
  if (key) h.Authorization = `Bearer ${key}`;
  let payload;
  if (body !== undefined) {
    h['Content-Type'] = h['Content-Type'] ?? 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(env.baseUrl + pathAndQuery, {
    method, headers: h, body: payload, signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

// A serial number no other test uses (Test Registry numbers units per serial).
let counter = 0;
export function uniqueSerial(prefix = 'WEB') {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now()}-${counter}`;
}
