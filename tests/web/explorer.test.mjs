// The explorer page (GET /) in a real browser: Debian's Chromium, headless, driven by playwright-core. Walks
// through register (and a refused register), a partial sell to web-holder whose first answer is lost (the retry
// reuses its Idempotency-Key), a partial retire by web-holder, the block list, a credit's timeline and lineage,
// and lookups by id and by registry + serial number; fails on any request to another host, any console error,
// any CSP violation and any unexpected error response. Saves a screenshot per step in $LEDGER_WEB_OUTPUT_DIR
// and one of a credit with its timeline as docs/explorer.png. Run by scripts/web-test.sh.
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT, env, requireWeb, uniqueSerial } from './support.mjs';

const { chromium } = requireWeb('playwright-core');
const WAIT_MS = 10000;

test('explorer: register, sell, retire, list, timeline and lineage in Chromium', { timeout: 180000 }, async () => {
  const base = new URL(env.baseUrl);
  const problems = [];     // foreign requests, console errors, CSP violations, page errors
  let lostAnswers = 0;     // answers the test itself cut off (each logs one network error)
  const refusals = [];     // the page's requests answered >= 400: each must be one the test asked for
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true, timeout: WAIT_MS,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(WAIT_MS);
    context.setDefaultNavigationTimeout(WAIT_MS);
    // Anything not to the server (or data:) is refused before it leaves the browser, and fails the test.
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.protocol === 'data:' || url.origin === base.origin) return route.continue();
      problems.push(`request to another host: ${url.href}`);
      return route.abort();
    });
    const page = await context.newPage();
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (url.protocol !== 'data:' && url.origin !== base.origin) problems.push(`request to another host: ${url.href}`);
    });
    page.on('response', (res) => {
      if (res.status() >= 400) refusals.push(`${res.request().method()} ${new URL(res.url()).pathname} ${res.status()}`);
    });
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      // Chromium logs each error response of a fetch; those are checked through `refusals` instead.
      if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text())) return;
      if (lostAnswers > 0 && /^Failed to load resource: net::ERR_CONNECTION_RESET/.test(msg.text())) {
        lostAnswers -= 1;
        return;
      }
      problems.push(`console error: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    await page.exposeFunction('reportCspViolation', (text) => problems.push(`CSP violation: ${text}`));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        window.reportCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
      });
    });

    let step = 0;
    const shot = async (name) => {
      step += 1;
      const file = path.join(env.outputDir, `explorer-${String(step).padStart(2, '0')}-${name}.png`);
      await page.screenshot({ path: file, fullPage: true, timeout: WAIT_MS });
    };
    const text = (selector) => page.locator(selector).first().textContent({ timeout: WAIT_MS });
    // Waits until the element's text matches.
    const waitText = (selector, regex) => page.waitForFunction(([s, source, flags]) => {
      const node = document.querySelector(s);
      return node !== null && !node.hidden && new RegExp(source, flags).test(node.textContent);
    }, [selector, regex.source, regex.flags], { timeout: WAIT_MS });
    const shownId = () => text('#record-fields [data-field="id"]');
    const timelineTypes = () => page.$$eval('#timeline [data-testid="event"]', (items) => items.map((li) => li.dataset.type));
    const waitShown = (id) => page.waitForFunction((want) => {
      const node = document.querySelector('#record-fields [data-field="id"]');
      return node !== null && node.textContent === want && !document.getElementById('detail-body').hidden;
    }, id, { timeout: WAIT_MS });

    // 1. The page, under the server's CSP.
    const response = await page.goto(`${env.baseUrl}/`, { waitUntil: 'load', timeout: WAIT_MS });
    assert.equal(response.status(), 200);
    const csp = response.headers()['content-security-policy'] ?? '';
    assert.match(csp, /script-src 'self'/, 'GET / carries the Content-Security-Policy');
    await page.locator('#key-form').waitFor();
    assert.equal(await text('#key-status'), 'No key');
    await shot('loaded');

    // 2. The issuer's key.
    await page.fill('#api-key', env.keys.issuer);
    await page.click('#key-save');
    await waitText('#key-status', /in use/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('carbon-ledger.api-key')), env.keys.issuer);
    await shot('issuer-key');

    // 3. Register a block of 100.
    const serial = uniqueSerial('WEB-EXPLORER');
    await page.fill('#register-registry', 'Test Registry');
    await page.fill('#register-serial', serial);
    await page.fill('#register-project', 'Explorer Test Forest');
    await page.fill('#register-vintage', '2024');
    await page.fill('#register-quantity', '100');
    await page.click('#register-submit');
    await waitText('#command-result', /^Registered /);
    const issuedId = await shownId();
    assert.match(issuedId, /^[0-9a-f-]{36}$/);
    assert.equal(await text('#record-fields [data-field="holder"]'), 'web-issuer');
    assert.equal(await text('#record-fields [data-field="quantity"]'), '100');
    assert.deepEqual(await timelineTypes(), ['CREATED']);
    await shot('registered');

    // 4. A refused register: each field's message beside its input, the detail on top; cleared on resubmit.
    await page.fill('#register-registry', 'Test Registry');
    await page.fill('#register-serial', uniqueSerial('WEB-EXPLORER'));
    await page.fill('#register-project', '   ');
    await page.fill('#register-quantity', '5');
    await page.fill('#register-vintage', '1800');
    await page.click('#register-submit');
    await waitText('#register-form [data-error-for="vintage"]', /between 1990 and 2100/);
    const besideInput = (id) => page.$eval(id, (input) => input.closest('.field').querySelector('.field-error').textContent);
    assert.match(await besideInput('#register-vintage'), /must be between 1990 and 2100/);
    assert.match(await besideInput('#register-project'), /characters/);
    assert.equal(await besideInput('#register-quantity'), '');
    assert.match(await text('#register-form [data-problem]'), /invalid fields/);
    assert.equal(await page.getAttribute('#register-vintage', 'aria-invalid'), 'true');
    await shot('register-refused');
    await page.fill('#register-vintage', '2024');
    await page.click('#register-submit');
    await waitText('#register-form [data-error-for="project_name"]', /characters/);
    assert.equal(await besideInput('#register-vintage'), '', 'the vintage message is cleared on the next submit');
    assert.equal(await shownId(), issuedId, 'a refused command leaves the shown credit alone');

    // 5. The issuer sells 60 of the 100 to web-holder: a child block carved off, held by web-holder. The first
    // answer is lost on the way back (the ledger has applied the sale); submitting again sends the same
    // Idempotency-Key, so the ledger replays its answer instead of selling twice.
    const sellKeys = [];
    await page.route('**/records/*/sell', async (route) => {
      sellKeys.push(route.request().headers()['idempotency-key']);
      if (sellKeys.length > 1) return route.continue();
      const lost = await route.fetch({ timeout: WAIT_MS });
      assert.equal(lost.status(), 200);
      lostAnswers += 1;
      return route.abort('connectionreset');
    });
    await page.fill('#sell-buyer', 'web-holder');
    await page.fill('#sell-quantity', '60');
    await page.click('#sell-submit');
    await waitText('#sell-form [data-problem]', /No answer .*submit again/);
    assert.equal(await shownId(), issuedId);
    await shot('sell-answer-lost');
    const replayed = page.waitForResponse((res) => res.url().endsWith('/sell'), { timeout: WAIT_MS });
    await page.click('#sell-submit');
    assert.equal((await replayed).headers()['idempotency-replayed'], 'true');
    await waitText('#command-result', /^Sold /);
    assert.equal(sellKeys.length, 2);
    assert.match(sellKeys[0], /^[!-~]{16,255}$/);
    assert.equal(sellKeys[1], sellKeys[0], 'the retry reuses the Idempotency-Key');
    await page.unroute('**/records/*/sell');
    const soldId = await shownId();
    assert.notEqual(soldId, issuedId);
    assert.equal(await text('#record-fields [data-field="holder"]'), 'web-holder');
    assert.equal(await text('#record-fields [data-field="status"]'), 'SOLD');
    assert.equal(await text('#record-fields [data-field="quantity"]'), '60');
    assert.equal(await text('#lineage-parent [data-testid="credit-link"]'), issuedId);
    assert.deepEqual(await timelineTypes(), ['CARVED', 'SOLD']);
    assert.match(await text('#command-result'), new RegExp(`40 units .* stay in ${issuedId}`));
    await shot('sold');

    // 6. web-holder retires 10 of its 60: another child, RETIRED.
    await page.fill('#api-key', env.keys.holder);
    await page.click('#key-save');
    await waitText('#key-status', /in use/);
    await page.fill('#retire-quantity', '10');
    await page.fill('#retire-beneficiary', 'Explorer Test Beneficiary');
    await page.selectOption('#retire-category', 'corporate_inventory');
    await page.click('#retire-submit');
    await waitText('#command-result', /^Retired /);
    const retiredId = await shownId();
    assert.notEqual(retiredId, soldId);
    assert.equal(await text('#record-fields [data-field="status"]'), 'RETIRED');
    assert.equal(await text('#record-fields [data-field="quantity"]'), '10');
    await shot('retired');

    // 7. The list: web-holder's blocks carved from the sold one.
    await page.fill('#filter-holder', 'web-holder');
    await page.fill('#filter-parent', soldId);
    await page.click('#filter-submit');
    const row = page.locator(`#records [data-testid="record-row"][data-id="${retiredId}"]`);
    await row.waitFor();
    assert.equal(await page.locator('#records [data-testid="record-row"]').count(), 1);
    await shot('list');

    // 8. Open it from the list: its timeline is CARVED then RETIRED, each saying who and when.
    await page.click('#lineage-parent [data-testid="credit-link"]');  // away first, so the click below navigates
    await waitShown(soldId);
    await row.locator('[data-testid="credit-link"]').click();
    await waitShown(retiredId);
    assert.deepEqual(await timelineTypes(), ['CARVED', 'RETIRED']);
    const carved = await text('#timeline [data-type="CARVED"]');
    assert.match(carved, /held by web-holder/);
    assert.match(await text('#timeline [data-type="RETIRED"]'), /Explorer Test Beneficiary/);
    assert.equal(await page.locator('#timeline time').count(), 2);
    assert.equal(await page.isHidden('#retire-form'), true, 'a retired block offers no commands');
    await shot('retired-timeline');

    // 9. Its parent's lineage lists it, and the parent's own parent is the issued block.
    await page.click('#lineage-parent [data-testid="credit-link"]');
    await waitShown(soldId);
    await page.locator(`#lineage-children [data-testid="child"][data-id="${retiredId}"]`).waitFor();
    assert.deepEqual(await timelineTypes(), ['CARVED', 'SOLD', 'SPLIT']);
    await shot('parent-lineage');
    await page.locator('#detail').evaluate((card) => card.scrollIntoView());
    await page.screenshot({ path: path.join(ROOT, 'docs/explorer.png'), fullPage: false, timeout: WAIT_MS });

    // 10. Look the issued block up by id: 40 units left, one child.
    await page.fill('#lookup-id', issuedId);
    await page.click('#lookup-submit');
    await waitShown(issuedId);
    assert.equal(await text('#record-fields [data-field="quantity"]'), '40');
    await page.locator(`#lineage-children [data-testid="child"][data-id="${soldId}"]`).waitFor();
    await shot('lookup');

    // 11. Look the serial up (registry + serial number): its three blocks listed, the issued one opened.
    await page.fill('#lookup-id', '');
    await page.click('#lineage-children [data-testid="credit-link"]');
    await waitShown(soldId);
    await page.fill('#lookup-registry', 'test registry');
    await page.fill('#lookup-serial', serial);
    await page.click('#lookup-submit');
    await waitShown(issuedId);
    assert.deepEqual((await page.$$eval('#records [data-testid="record-row"]', (rows) => rows.map((r) => r.dataset.id))).sort(),
      [issuedId, soldId, retiredId].sort());
    await shot('lookup-serial');

    // 12. Forget the key.
    await page.click('#key-forget');
    assert.equal(await text('#key-status'), 'No key');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('carbon-ledger.api-key')), null);

    assert.deepEqual(problems, []);
    assert.deepEqual(refusals, ['POST /register 422', 'POST /register 422'],
      'the only error answers are the two refused registrations');
  } catch (err) {
    // What the page showed when it failed, beside the steps' screenshots.
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages.length > 0) {
      await pages[0].screenshot({ path: path.join(env.outputDir, 'explorer-failure.png'), fullPage: true, timeout: WAIT_MS })
        .catch(() => {});
    }
    throw err;
  } finally {
    await browser.close();
  }
});
