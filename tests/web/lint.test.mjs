// Lints server/web/openapi.json with Redocly's `recommended` rules (server/web/redocly.yaml): no errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';

import { ROOT } from './support.mjs';

test('redocly lint server/web/openapi.json reports no errors', async () => {
  const bin = path.join(ROOT, 'server/web/node_modules/.bin/redocly');
  const args = ['lint', 'server/web/openapi.json', '--config', 'server/web/redocly.yaml'];
  const { code, output } = await new Promise((resolve) => {
    execFile(bin, args, { cwd: ROOT, timeout: 120_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) => {
        const text = `${stdout}\n${stderr}`;
        if (error && typeof error.code !== 'number') resolve({ code: `${error.code ?? ''} ${error.signal ?? ''} ${error.message}`, output: text });
        else resolve({ code: error ? error.code : 0, output: text });
      });
  });
  assert.equal(code, 0, `redocly lint failed:\n${output}`);
  assert.match(output, /Your API description is valid|validated in/, output);
  assert.doesNotMatch(output, /\b[1-9][0-9]* errors?\b/, output);
});
