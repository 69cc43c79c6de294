// Dead code fails the suite: knip (knip.json) finds unused files, exports, types and
// dependencies of tools/. A symbol used only in its own module is fine (ignoreExportsUsedInFile);
// a re-export kept while other branches still import it carries `@public` until they are merged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../lib/core/tools.js';

test('knip finds no unused file, export or dependency', { timeout: 300_000 }, () => {
  const knip = path.join(REPO_ROOT, 'node_modules/.bin/knip');
  assert.ok(existsSync(knip), 'knip is a devDependency: run npm ci');
  const r = spawnSync(knip, ['--no-progress', '--no-config-hints'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 280_000 });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});
