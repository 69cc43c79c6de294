// The JSON-lines client both long-lived children use (lib/core/jsonlines.ts: the kustomize
// renderer, argocd-helper), against a real child process (node) that answers as they do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnswerTooLarge, JsonLinesClient } from '../lib/core/jsonlines.js';

// Answers each request `{id, op, n}`: `echo` at once, `late` after n ms, `big` with n bytes,
// `hang` never, `die` by exiting 3 after a line on stderr.
const CHILD = `
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', (l) => {
  const r = JSON.parse(l);
  const answer = (o) => process.stdout.write(JSON.stringify({ id: r.id, ...o }) + '\\n');
  if (r.op === 'echo') answer({ pid: process.pid, n: r.n });
  if (r.op === 'late') setTimeout(() => answer({ n: r.n }), r.n);
  if (r.op === 'big') answer({ s: 'x'.repeat(r.n) });
  if (r.op === 'die') { process.stderr.write('fatal: out of luck\\n'); process.exit(3); }
});`;

type Answer = { id: number; pid?: number; n?: number; s?: string };
const client = (timeoutMs?: number) => new JsonLinesClient<Answer>({ name: 'stand-in', cmd: process.execPath, args: ['-e', CHILD], env: () => ({ PATH: process.env.PATH }), maxLineBytes: 64 * 1024, timeoutMs, timeoutHint: 'SOME_SETTING' });

test('answers matched by id, in whatever order they come; one process for all', async () => {
  const c = client();
  try {
    const [slow, fast, again] = await Promise.all([c.request({ op: 'late', n: 300 }), c.request({ op: 'late', n: 10 }), c.request({ op: 'echo', n: 7 })]);
    assert.equal(slow.n, 300);
    assert.equal(fast.n, 10);
    assert.equal(again.n, 7);
    assert.equal((await c.request({ op: 'echo' })).pid, again.pid);
  } finally {
    c.close();
  }
});

test('an answer over the line bound fails only its request', async () => {
  const c = client();
  try {
    const [big, small] = await Promise.allSettled([c.request({ op: 'big', n: 200 * 1024 }), c.request({ op: 'big', n: 10 })]);
    assert.ok(big.status === 'rejected' && big.reason instanceof AnswerTooLarge && big.reason.bytes > 200 * 1024, String(big.status === 'rejected' && big.reason));
    assert.ok(small.status === 'fulfilled' && small.value.s === 'x'.repeat(10));
  } finally {
    c.close();
  }
});

test('a child that ends fails what is pending with its stderr; the next request starts another', async () => {
  const c = client();
  try {
    const first = (await c.request({ op: 'echo' })).pid;
    const pending = c.request({ op: 'late', n: 5_000 });
    await assert.rejects(c.request({ op: 'die' }), /stand-in exited \(3\): fatal: out of luck/);
    await assert.rejects(pending, /stand-in exited \(3\)/);
    const second = (await c.request({ op: 'echo' })).pid;
    assert.notEqual(second, first);
  } finally {
    c.close();
  }
});

test('a request over the time bound fails naming the setting, and ends the child', async () => {
  const c = client(500);
  try {
    const first = (await c.request({ op: 'echo' })).pid!;
    await assert.rejects(c.request({ op: 'hang' }, 'hang'), /stand-in did not answer hang within 0\.5 s \(SOME_SETTING\)/);
    const deadline = Date.now() + 5_000;
    const running = () => {
      try {
        process.kill(first, 0);
        return true;
      } catch {
        return false;
      }
    };
    while (running() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!running(), 'the child that did not answer is gone');
    assert.notEqual((await c.request({ op: 'echo' })).pid, first);
  } finally {
    c.close();
  }
});
