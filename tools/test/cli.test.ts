// The command line: --help with examples on every command, the closest flag or command suggested
// for a typo, progress on a terminal only (not in CI, not with --format json).
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { commandNames } from '../cli.js';
import { closest, COMMANDS, helpText, parseCommand, wantsHelp } from '../lib/cli/cliargs.js';
import { UsageError } from '../lib/core/errors.js';
import { createProgress } from '../lib/core/progress.js';
import { REPO_ROOT } from '../lib/core/tools.js';
import { gitInit } from './fixtures.js';
import { baseFiles, makeRepo, removeRepo, testEnv } from './repo-fixture.js';

const CLI = path.join(REPO_ROOT, 'tools', 'cli.ts');
const cli = (args: string[], env: NodeJS.ProcessEnv = testEnv) =>
  promisify(execFile)('npx', ['tsx', CLI, ...args], { cwd: REPO_ROOT, env, timeout: 120_000 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('command line', () => {
  test('every command main() runs is declared (options, usage, examples), and nothing else is', () => {
    assert.deepEqual(commandNames().sort(), Object.keys(COMMANDS).sort());
    for (const [name, spec] of Object.entries(COMMANDS)) {
      const help = helpText(name);
      assert.ok(spec.examples.length, `${name} has no example`);
      for (const e of spec.examples) assert.ok(help.includes(e), `${name}: example missing from help`);
      for (const flag of [...Object.keys(spec.options), 'cwd', 'help']) assert.match(help, new RegExp(`--${flag}\\b`), `${name}: --${flag} missing from help`);
      assert.match(help, new RegExp(`^usage: npm run ${name} --`, 'm'));
    }
  });

  test('the npm scripts\' entry (tools/run.mjs, compiled or through tsx) runs the command and keeps its exit code', async () => {
    const run = (args: string[], env: NodeJS.ProcessEnv) =>
      promisify(execFile)(process.execPath, [path.join(REPO_ROOT, 'tools', 'run.mjs'), ...args], { cwd: REPO_ROOT, env, timeout: 120_000 }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    for (const env of [testEnv, { ...testEnv, GITOPS_NO_DIST: '1' }]) {
      const help = await run(['status', '--help'], env);
      assert.equal(help.code, 0, help.stderr);
      assert.equal(help.stdout.trim(), helpText('status'));
      const bad = await run(['validat'], env);
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /unknown command 'validat'; did you mean 'validate'\?/);
    }
  });

  test('--help and -h print the help and exit 0, on every command, even with other arguments', async () => {
    assert.ok(wantsHelp(['x', '-h']) && wantsHelp(['--help']) && !wantsHelp(['--', '--help']));
    const r = await cli(['promote', 'backend', '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), helpText('promote'));
    const all = await cli(['--help']);
    assert.equal(all.code, 0);
    for (const name of Object.keys(COMMANDS)) assert.match(all.stdout, new RegExp(`^  ${name} `, 'm'));
  });

  test('an unknown flag names the closest declared one; an unknown command the closest command', async () => {
    assert.throws(() => parseCommand('validate', ['--fromat', 'json']), (e: unknown) => e instanceof UsageError && /unknown option '--fromat'; did you mean '--format'\?/.test(e.message));
    assert.throws(() => parseCommand('promote', ['--dryrun']), /did you mean '--dry-run'/);
    assert.throws(() => parseCommand('diff', ['--zzzzzz']), (e: unknown) => e instanceof UsageError && !/did you mean/.test(e.message) && /npm run diff -- --help/.test(e.hint ?? ''));
    assert.equal(closest('chnaged-only', Object.keys(COMMANDS.validate!.options)), 'changed-only');
    const r = await cli(['validate', '--chnaged-only']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /error: validate: unknown option '--chnaged-only'; did you mean '--changed-only'\?\nhint: see npm run validate -- --help/);
    const c = await cli(['promot', 'backend', 'prod']);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /unknown command 'promot'; did you mean 'promote'\?/);
  });

  test('progress shows on a terminal only: not when piped, not in CI, not with --format json or sarif', () => {
    const writes: string[] = [];
    const tty = { isTTY: true, write: (s: string) => writes.push(s) };
    let t = 0;
    const p = createProgress({ command: 'validate', env: {}, stream: tty, now: () => (t += 500) });
    p.update('rendering 22 targets');
    p.done();
    assert.deepEqual(writes, ['\r\x1b[2Kvalidate: rendering 22 targets (0.5s)', '\r\x1b[2K']);
    for (const opts of [{ env: { CI: 'true' } }, { env: {}, format: 'json' }, { env: {}, format: 'sarif' }, { env: {}, stream: { isTTY: false, write: () => assert.fail('wrote to a pipe') } }, { env: {}, enabled: false }]) {
      const quiet = createProgress({ command: 'validate', stream: { isTTY: true, write: () => assert.fail(`wrote with ${JSON.stringify(opts)}`) }, ...opts });
      assert.equal(quiet.enabled, false);
      quiet.update('x');
      quiet.done();
    }
  });

  test('through a real terminal (script(1)): validate shows its phases; with CI set or --format json it does not', async () => {
    const dir = await makeRepo(baseFiles());
    try {
      gitInit(dir);
      // script gives the command a pseudo-terminal for stdin, stdout and stderr, as a person's shell does.
      const onTty = (args: string, env: NodeJS.ProcessEnv) => {
        // tsx itself, not npx: npm's own warnings would land on the terminal too.
        // --no-server: the server dry run has its own tests (apiserver.test.ts).
        const r = spawnSync('script', ['-qec', `${path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx')} ${CLI} validate --cwd ${dir} --no-server ${args}`, '/dev/null'], { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 120_000 });
        return { code: r.status, out: r.stdout };
      };
      const { CI: _ci, ...noCi } = testEnv;
      const shown = onTty('', { ...noCi, TERM: 'xterm' });
      assert.equal(shown.code, 0, shown.out);
      assert.match(shown.out, /validate: rendering \d+ targets \(\d+\.\ds\)/);
      assert.match(shown.out, /validate: checking the schemas of \d+ objects/);
      const ci = onTty('', { ...noCi, TERM: 'xterm', CI: 'true' });
      assert.equal(ci.code, 0, ci.out);
      assert.doesNotMatch(ci.out, /validate: rendering/);
      const json = onTty('--format json', { ...noCi, TERM: 'xterm' });
      assert.doesNotMatch(json.out, /validate: rendering|\x1b\[2K/);
      // The terminal shows stderr too: the one line saying the server dry run was skipped.
      assert.match(json.out, /^server dry run skipped: --no-server\r?$/m);
      assert.equal((JSON.parse(json.out.replace(/\r\n/g, '\n').replace(/^server dry run skipped.*$/m, '')) as { summary: { error: number } }).summary.error, 0);
    } finally {
      await removeRepo(dir);
    }
  });
});
