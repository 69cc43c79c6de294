// Folders that own process groups (lib/server/pidfolder.ts), as the local API server uses them:
// a SIGKILLed owner leaves its folder and children; the next run's reapOrphans kills the children
// that still run their recorded binary, leaves a pid that runs another binary alone, and removes
// the folder. The rehearsal's run folders go through the same module (rehearse.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { reapOrphans } from '../lib/server/apiserver.js';
import { alive } from '../lib/server/pidfolder.js';

const gone = (pid: number) => !existsSync(`/proc/${pid}`) || /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));

test('a SIGKILLed owner: reapOrphans kills what its folder recorded, and only that', { timeout: 60_000 }, async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gitops-pidfolder-'));
  const module = new URL('../lib/server/pidfolder.ts', import.meta.url).pathname;
  // The owner: a folder named for its pid, two detached sleepers; the second is recorded with
  // another binary, as a reused pid would be.
  const script = `import { mkdtempSync } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { recordPid } from ${JSON.stringify(module)};
const dir = mkdtempSync(path.join(${JSON.stringify(tmp)}, 'gitops-apiserver-' + process.pid + '-'));
const start = () => spawn('/bin/sleep', ['600'], { detached: true, stdio: 'ignore' });
const a = start(), b = start();
recordPid(dir, 'a', a.pid, '/bin/sleep');
recordPid(dir, 'b', b.pid, '/bin/true');
process.stdout.write(dir + ' ' + a.pid + ' ' + b.pid + '\\n');
setInterval(() => {}, 1000);`;
  const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let other = 0;
  try {
    const line = await new Promise<string>((resolve, reject) => {
      owner.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
      owner.once('exit', (c) => reject(new Error(`owner exited ${c}`)));
    });
    const [dir, a, b] = line.split(' ');
    other = Number(b);
    owner.kill('SIGKILL');
    await new Promise((r) => owner.once('exit', r));
    assert.ok(existsSync(dir!) && alive(Number(a)), 'a SIGKILLed owner cannot clean up');

    assert.equal(reapOrphans(undefined, tmp), 1);
    assert.ok(!existsSync(dir!));
    const deadline = Date.now() + 5000;
    while (!gone(Number(a)) && Date.now() < deadline) await sleep(100);
    assert.ok(gone(Number(a)), `the recorded sleeper ${a} still runs`);
    assert.ok(!gone(other), 'a pid running another binary than recorded is left alone');
    assert.equal(reapOrphans(undefined, tmp), 0, 'nothing left to reap');
  } finally {
    owner.kill('SIGKILL');
    if (other) process.kill(-other, 'SIGKILL');
    await rm(tmp, { recursive: true, force: true });
  }
});
