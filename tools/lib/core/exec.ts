import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CommandFailedError, OutputLimitError, ToolMissingError } from './errors.js';
import { onCleanup } from './cleanup.js';
import { SECRET_NAME } from './redact.js'; // names that hold a credential: never passed on, even when allowlisted

export interface RunOptions {
  cwd?: string;
  input?: string;
  /** The child's whole environment; default: `childEnv()`, the scrubbed allowlist. */
  env?: NodeJS.ProcessEnv;
  /** Resolve instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  timeoutMs?: number;
  /** Kill the child and fail (OutputLimitError) once its stdout passes this many bytes. */
  maxStdoutBytes?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/**
 * Variables a child process gets by default. Children read repository content (kustomize,
 * helm, kubeconform, git): none of them may see a token, so the default is an allowlist, not a
 * denylist. Network children add the proxy settings (`childEnv({ network: true })`).
 */
const BASE_VARS = ['PATH', 'HOME', 'USER', 'LOGNAME', 'TMPDIR', 'TMP', 'TEMP', 'LANG', 'LANGUAGE', 'TZ', 'TERM', 'NO_COLOR', 'SYSTEMROOT', 'COMSPEC', 'PATHEXT', 'WINDIR'];
const NETWORK_VARS = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];

export interface ChildEnvOptions {
  /** Add the proxy and CA settings a child that talks to the network needs. */
  network?: boolean;
  /** More variables to pass on by name (still never one that looks like a credential). */
  keep?: string[];
  /** Variables to set, on top (explicit: may be anything, e.g. GIT_CONFIG_NOSYSTEM). */
  set?: NodeJS.ProcessEnv;
}

/** The scrubbed environment for a child process (see BASE_VARS). */
export function childEnv(opts: ChildEnvOptions = {}, from: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const names = new Set([...BASE_VARS, ...(opts.network ? NETWORK_VARS : []), ...(opts.keep ?? [])]);
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(from)) {
    if (v === undefined) continue;
    if ((names.has(k) || k.startsWith('LC_')) && !SECRET_NAME.test(k)) out[k] = v;
  }
  return { ...out, ...opts.set };
}

let emptyHome: string | undefined;

/**
 * The environment of kustomize (and the helm and git it starts) for a render: the scrubbed
 * allowlist with HOME pointing at an empty private folder and git's system and global config off,
 * so no user credential helper, url rewrite, ssh key or `protocol.*.allow` applies. git may use
 * https and http only, and only when the render may fetch (`network`): never `file://` (another
 * repository on the machine) or `ext::` (a command).
 */
export function renderEnv(opts: { network?: boolean } = {}, from: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (!emptyHome) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gitops-render-home-'));
    emptyHome = dir;
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  }
  return childEnv({
    network: opts.network,
    set: {
      HOME: emptyHome,
      XDG_CONFIG_HOME: path.join(emptyHome, '.config'),
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: '/bin/false',
      SSH_ASKPASS: '/bin/false',
      // Empty: no protocol at all; otherwise exactly these.
      GIT_ALLOW_PROTOCOL: opts.network ? 'https:http' : '',
    },
  }, from);
}

/** Runs a binary with an argument array (never a shell string), with `childEnv()` unless `env` is given. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? childEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 300_000,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let overLimit = false;
    child.stdout.on('data', (d: Buffer) => {
      if (overLimit) return;
      outBytes += d.length;
      if (opts.maxStdoutBytes !== undefined && outBytes > opts.maxStdoutBytes) {
        overLimit = true;
        out.length = 0;
        child.kill('SIGKILL');
      } else out.push(d);
    });
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') reject(new ToolMissingError(`${cmd}: not found`));
      else reject(e);
    });
    child.on('close', (code) => {
      if (overLimit) return reject(new OutputLimitError(cmd, opts.maxStdoutBytes!));
      const res = { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code };
      if (code !== 0 && !opts.allowFailure) reject(new CommandFailedError([cmd, ...args].join(' '), code, res.stderr || res.stdout));
      else resolve(res);
    });
    child.stdin.on('error', () => {}); // the child may exit before reading stdin
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs async tasks with at most `limit` in flight, keeping result order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return results;
}
