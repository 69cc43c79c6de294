// The pull request body of a release: repository text (a commit subject, release values) is
// shown, never interpreted as markdown, HTML, mentions or links (the same rules as the PR comment).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, test } from 'node:test';
import { promote } from '../commands/promote.js';
import { capture, digestOf, finishFixture, overlayFile, startReleaseFixture, type ReleaseFixture } from './release-fixture.js';

const DEV = overlayFile('minikube', 'nofluxo/backend');
const D1 = digestOf('nofluxo-backend 1.1.0');

let fx: ReleaseFixture | undefined;
afterEach(async () => {
  const f = fx;
  fx = undefined;
  await finishFixture(f);
});

/** The body with every inline code span removed: what GitHub renders as markdown. */
const outsideCode = (body: string) => body.replace(/`[^`\n]*`/g, '');

test('a hostile source commit subject reaches the PR body only inside a code span', { timeout: 180_000 }, async () => {
  fx = await startReleaseFixture();
  const subject = 'bump | @crianex/admins see #1 [x](http://127.0.0.1/evil) **loud** `tick` <!-- hidden';
  const text = (await readFile(path.join(fx.work, DEV), 'utf8')).replace('newTag: "1.0.0"', `newTag: "1.1.0@${D1}"`);
  await fx.pushToMain({ [DEV]: text }, subject);
  await fx.pull();
  const c = capture();
  const r = await promote({ cwd: fx.work, app: 'backend', env: 'prod', envVars: fx.envVars, log: c.log, write: c.write });
  assert.equal(r.status, 'pr-opened');
  const body = fx.api.state.pulls[0]!.body ?? '';
  const sourceLine = body.split('\n').find((l) => l.includes('at commit:'));
  assert.ok(sourceLine, body);
  const rest = outsideCode(sourceLine);
  for (const bad of ['@crianex', '#1', '[x]', '**loud**', '<!--', '|']) assert.ok(!rest.includes(bad), `${JSON.stringify(bad)} outside a code span: ${sourceLine}`);
  assert.ok(sourceLine.includes('crianex/admins'), 'the subject is still shown');
});
