// Small process helpers shared by the harnesses: argument arrays only, every run bounded by a timeout.
import { execFile, type ChildProcess } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';

export interface RunResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  input?: string;
}

/** Runs a binary with an argument array; rejects with stderr in the message so failures explain themselves. */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        timeout: opts.timeoutMs ?? 30_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err) {
          const e = new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stderr}`.trim());
          Object.assign(e, { stdout, stderr, code: (err as NodeJS.ErrnoException).code });
          reject(e);
        } else resolve({ stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Environment for git without any GIT_* variables leaking in from an outer git (hooks, test runners). */
export function cleanGitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return { ...env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', ...extra };
}

/** Finds an executable on PATH without spawning a shell. */
export async function findExecutable(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this PATH entry
    }
  }
  return undefined;
}

/** Sends SIGTERM, then SIGKILL if the child has not exited within graceMs. */
export async function terminate(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), graceMs);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    child.kill('SIGKILL');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000))]);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Which processes run, for tests that check nothing is left behind: `ps` (Linux and macOS
// alike) rather than /proc, and a listing that does not show this very process is an error,
// never an empty answer that lets such a test pass without checking anything.
/** Processes other than this one whose command line mentions `needle`, as `pid: command line`. */
export async function processesMentioning(needle: string): Promise<string[]> {
  const { stdout } = await run('ps', ['-A', '-ww', '-o', 'pid=,args='], { timeoutMs: 10_000 });
  const rows = stdout.split('\n').map((l) => /^\s*(\d+)\s(.*)$/.exec(l)).filter((m): m is RegExpExecArray => m !== null);
  if (!rows.some((m) => Number(m[1]) === process.pid)) throw new Error(`ps listed ${rows.length} processes but not this one (${process.pid}): the listing proves nothing`);
  return rows.filter((m) => Number(m[1]) !== process.pid && m[2].includes(needle) && !m[2].startsWith('ps ')).map((m) => `${m[1]}: ${m[2]}`);
}

/** Polls until `ok(list)` holds for processesMentioning(needle), at most `ms`; returns the last list. */
export async function waitForProcesses(needle: string, ok: (list: string[]) => boolean, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const list = await processesMentioning(needle);
    if (ok(list) || Date.now() > deadline) return list;
    await sleep(100);
  }
}
