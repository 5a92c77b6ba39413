// /docs: Swagger UI, served by the binary from the pinned swagger-ui-dist, over /openapi.json. In headless
// Chromium: the page loads with no request to another host, no console error and no CSP violation; a key
// pasted into "Authorize" runs an operation that needs one ("Try it out", "Execute") and shows its 200.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, call } from './support.mjs';
import { launch, watchedPage, screenshot } from './browser.mjs';

test('/docs serves Swagger UI with a Content-Security-Policy and no third-party file', async () => {
  const res = await call('GET', '/docs');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/html/);
  const csp = res.headers.get('content-security-policy');
  assert.ok(csp, 'a Content-Security-Policy header');
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/, 'scripts only from this server, none inline');
  assert.doesNotMatch(res.text, /https?:\/\//, 'the page names no other host');
  const bundle = await call('GET', '/assets/swagger-ui-bundle.js');
  assert.equal(bundle.status, 200);
  assert.ok(bundle.text.length > 100000, 'the Swagger UI bundle itself');
});

test('Swagger UI: paste a key, run GET /records, see 200', async () => {
  const browser = await launch();
  try {
    const { page, problems } = await watchedPage(browser);
    await page.goto(env.baseUrl + '/docs', { waitUntil: 'load' });
    await page.locator('.swagger-ui .info .title').filter({ hasText: 'Carbon Ledger' }).waitFor();
    await screenshot(page, 'docs-01-loaded.png');

    await page.locator('button.authorize').first().click();
    await page.locator('.auth-container input').first().fill(env.keys.auditor);
    await page.locator('.auth-btn-wrapper button.authorize').first().click();
    await page.locator('.auth-btn-wrapper button.btn-done').first().click();
    await screenshot(page, 'docs-02-authorized.png');

    const operation = page.locator('.opblock-get').filter({ has: page.locator('[data-path="/records"]') }).first();
    await operation.locator('.opblock-summary').first().click();
    // docs.js opens every operation ready to run (tryItOutEnabled); the button then reads "Cancel".
    const tryOut = operation.locator('button.try-out__btn');
    if ((await tryOut.innerText()).includes('Try it out')) await tryOut.click();
    await operation.locator('button.execute').click();
    const status = operation.locator('.live-responses-table tbody .response-col_status').first();
    await status.waitFor();
    assert.equal((await status.innerText()).trim().slice(0, 3), '200');
    await screenshot(page, 'docs-03-executed.png');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
