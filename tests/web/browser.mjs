// Headless Debian Chromium driven by playwright-core, for the tests of the pages (/docs, the explorer):
// every page a test opens is watched for requests to any other host, console errors and Content-Security-
// Policy violations, which fail the test. No display is needed.
import { requireWeb, env } from './support.mjs';
import fs from 'node:fs';
import path from 'node:path';

const { chromium } = requireWeb('playwright-core');

export const CHROMIUM = process.env.LEDGER_CHROMIUM ?? '/usr/bin/chromium';
export const STEP_TIMEOUT_MS = 10000;

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

// A new page in its own context, with `problems` collecting what must not happen.
export async function watchedPage(browser, { viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
  const problems = [];
  const origin = new URL(env.baseUrl).origin;
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(origin) && !url.startsWith('data:') && !url.startsWith('blob:')) {
      problems.push(`request to another host: ${url}`);
    }
  });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
  return { context, page, problems };
}

export async function screenshot(page, name) {
  fs.mkdirSync(env.outputDir, { recursive: true });
  const file = path.join(env.outputDir, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
