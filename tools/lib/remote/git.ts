// git through simple-git for local commands; fetch and push in a process group of their own with
// a bounded time. The push token is passed per command (never in argv, never in .git/config),
// only to commands that talk to origin, and scrubbed from every error message.
import { spawn } from 'node:child_process';
import { simpleGit, type SimpleGit } from 'simple-git';
import { withoutSecrets } from '../core/childenv.js';
import { GitError } from '../core/errors.js';
import { networkTimeoutMs } from './network.js';
import { onCleanup } from '../core/cleanup.js';

export interface RemoteInfo {
  /** The remote URL without userinfo. */
  url: string;
  /** host[:port] */
  host: string;
  owner: string;
  repo: string;
  /** `scheme://host[:port]/` for http(s) remotes: where the auth header is scoped to. */
  httpBase?: string;
}

/** owner/repo from `https://host/o/r(.git)`, `git@host:o/r.git` or `ssh://git@host[:port]/o/r.git`. */
export function parseRemoteUrl(raw: string): RemoteInfo {
  const url = raw.trim();
  const fail = () => new GitError(`cannot read owner/repo from the origin remote URL '${stripUserinfo(url)}'`, 'origin must look like https://github.com/<owner>/<repo>.git or git@github.com:<owner>/<repo>.git');
  let host: string;
  let pathPart: string;
  let httpBase: string | undefined;
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/)(.+)$/.exec(url);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw fail();
    }
    host = u.host;
    pathPart = decodeURIComponent(u.pathname);
    if (u.protocol === 'http:' || u.protocol === 'https:') httpBase = `${u.protocol}//${u.host}/`;
  } else if (scp) {
    host = scp[1]!;
    pathPart = scp[2]!;
  } else throw fail();
  const segs = pathPart.replace(/\/+$/, '').replace(/\.git$/, '').split('/').filter(Boolean);
  if (segs.length < 2) throw fail();
  const [owner, repo] = segs.slice(-2) as [string, string];
  if (!/^[A-Za-z0-9_.-]+$/.test(owner) || !/^[A-Za-z0-9_.-]+$/.test(repo)) throw fail();
  return { url: stripUserinfo(url), host, owner, repo, httpBase };
}

function stripUserinfo(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1');
}

/** The header GitHub (and the test git server) accept for a token over smart HTTP. */
export function authHeaderValue(token: string): string {
  return `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
}

/** Removes tokens (raw, base64 forms, URL userinfo, Authorization headers) from text meant for humans. */
export function scrub(text: string, secrets: Array<string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    if (!s || s.length < 4) continue;
    for (const form of [s, Buffer.from(`x-access-token:${s}`).toString('base64'), encodeURIComponent(s), Buffer.from(s).toString('base64')]) {
      out = out.split(form).join('***');
    }
  }
  return out
    .replace(/(Authorization:\s*(?:Basic|Bearer|token))\s+\S+/gi, '$1 ***')
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^@/\s]+@/gi, '$1***@');
}

/** Passed through to git from the caller's environment; every other GIT_* variable is dropped. */
const PASSTHROUGH = ['GIT_SSL_CAINFO', 'GIT_SSL_CAPATH', 'GIT_SSH', 'GIT_SSH_COMMAND', 'GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL'];

/** Programs git could start interactively (simple-git refuses them in an explicit environment); never needed here. */
const DROPPED = new Set(['EDITOR', 'VISUAL', 'PAGER', 'PREFIX', 'SSH_ASKPASS']);

export interface GitOptions {
  envVars?: NodeJS.ProcessEnv;
  /** Token for the origin remote (sent as an http.extraHeader scoped to the remote's host). */
  token?: string;
  /** `scheme://host/` the header is scoped to (from parseRemoteUrl). */
  httpBase?: string;
  /** Per-command timeout (ms); 0 disables. Default 120 s. */
  timeoutMs?: number;
}

/** Process groups of network git commands still running (killed on an interrupt: core/cleanup.ts). */
const liveGroups = new Set<number>();
let cleanupRegistered = false;

/** Kills every network git command still running, with its helpers (git-remote-http, ssh). */
export function killNetworkChildren(): void {
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  liveGroups.clear();
}

/** Why a push was refused, read from git's porcelain output and the server's `remote:` lines. */
export interface PushRefusal {
  kind: 'race' | 'auth' | 'refused' | 'other';
  /** The server's words: the reason in brackets and its `remote:` lines. */
  reason: string;
}

/** Classifies a failed push: a race (someone moved a ref), a server refusal (hook, protection), auth, or anything else. */
export function classifyPush(output: string): PushRefusal {
  const remoteLines = output.split('\n').filter((l) => /^remote: /.test(l)).map((l) => l.replace(/^remote: /, '').trimEnd()).filter((l) => l.trim());
  const rejected = [...output.matchAll(/\[remote rejected\] \(([^)]*)\)/g)].map((m) => m[1]!);
  // Reasons that are a concurrent update of the ref (a race), not a hook or a protection rule.
  const real = rejected.filter((r) => !/atomic push failed|failed to update ref|cannot lock ref|incorrect old value|failed to lock|reference already exists|atomic transaction failed|stale info|fetch first|non-fast-forward/i.test(r));
  if (real.length) return { kind: 'refused', reason: [...new Set(real)].join('; ') + (remoteLines.length ? `\n${remoteLines.map((l) => `  remote: ${l}`).join('\n')}` : '') };
  if (/stale info|atomic push failed|non-fast-forward|fetch first|\[rejected\]|failed to update ref|cannot lock ref|incorrect old value|failed to lock|reference already exists|atomic transaction failed/i.test(output)) return { kind: 'race', reason: 'origin moved since the fetch' };
  if (/redirecting to \S+|unable to update url base from redirection/i.test(output)) return { kind: 'other', reason: `origin redirected (${/redirecting to (\S+)/i.exec(output)?.[1] ?? 'elsewhere'}), where the token is not sent: point origin at the new address` };
  if (/Authentication failed|\b40[13]\b|could not read Username|terminal prompts disabled/i.test(output)) return { kind: 'auth', reason: 'origin refused the credentials' };
  return { kind: 'other', reason: output.trim().split('\n').filter(Boolean).slice(-3).join('\n') };
}

export class GitTimeoutError extends GitError {}

/** A push the server refused (a hook, branch protection): retrying cannot help. */
export class PushRefusedError extends GitError {}

export class Git {
  private readonly local: SimpleGit;
  constructor(
    readonly dir: string,
    private readonly opts: GitOptions = {},
  ) {
    this.local = this.client();
  }

  /** Environment of every git child: the caller's minus credentials and GIT_* (a few kept), no prompts. */
  private baseEnv(): Record<string, string> {
    const src = this.opts.envVars ?? process.env;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(withoutSecrets(src))) if (v !== undefined && !k.toUpperCase().startsWith('GIT_') && !DROPPED.has(k.toUpperCase())) env[k] = v;
    env.GIT_TERMINAL_PROMPT = '0';
    for (const k of PASSTHROUGH) if (src[k]) env[k] = src[k]!;
    return env;
  }

  private client(): SimpleGit {
    const env = this.baseEnv();
    const timeout = this.opts.timeoutMs ?? 120_000;
    return simpleGit({
      baseDir: this.dir,
      maxConcurrentProcesses: 4,
      allowEnvironment: Object.keys(env).filter((k) => k.startsWith('GIT_')),
      unsafe: { allowUnsafeSshCommand: true },
      ...(timeout ? { timeout: { block: timeout } } : {}),
    }).env(env);
  }

  /** Limit in ms for one network command (GITOPS_NETWORK_TIMEOUT, default 120 s). */
  networkTimeoutMs(): number {
    return networkTimeoutMs(this.opts.envVars ?? process.env, this.opts.timeoutMs ?? 120_000);
  }

  /**
   * Runs a git command that talks to origin, in its own process group so that a timeout kills
   * git together with git-remote-http/ssh (nothing is left to keep the process alive). curl gives
   * up on a connection that moves less than 1 kB/s for the same time.
   */
  private runNetwork(args: string[]): Promise<{ stdout: string; stderr: string }> {
    const limitMs = this.networkTimeoutMs();
    const env: Record<string, string> = {
      ...this.baseEnv(),
      GIT_HTTP_LOW_SPEED_LIMIT: '1000',
      GIT_HTTP_LOW_SPEED_TIME: String(Math.max(1, Math.min(30, Math.ceil(limitMs / 1000)))),
    };
    if (this.opts.token && this.opts.httpBase) {
      env.GIT_CONFIG_COUNT = '1';
      env.GIT_CONFIG_KEY_0 = `http.${this.opts.httpBase}.extraHeader`;
      env.GIT_CONFIG_VALUE_0 = `Authorization: ${authHeaderValue(this.opts.token)}`;
    }
    return new Promise((resolve, reject) => {
      const child = spawn('git', args, { cwd: this.dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const killGroup = () => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // the group is gone
        }
        liveGroups.delete(child.pid);
      };
      if (child.pid !== undefined) {
        if (!cleanupRegistered) onCleanup(killNetworkChildren);
        cleanupRegistered = true;
        liveGroups.add(child.pid);
      }
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, limitMs);
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', (e) => {
        clearTimeout(timer);
        killGroup();
        reject(new GitError(`cannot run git: ${e.message}`));
      });
      // git has exited: whatever it started is of no use now.
      child.on('exit', killGroup);
      child.on('close', (code) => {
        clearTimeout(timer);
        const stdout = Buffer.concat(out).toString('utf8');
        const stderr = this.scrub(Buffer.concat(err).toString('utf8'));
        if (timedOut) {
          reject(new GitTimeoutError(`git ${args[0]} timed out after ${limitMs / 1000} s: origin did not answer`, 'check the network and that origin is reachable (GITOPS_NETWORK_TIMEOUT sets the limit in seconds), then re-run'));
        } else if (code !== 0) {
          const e = new GitError(`git ${args[0]} failed: ${this.scrub(`${stderr}\n${stdout}`).trim()}`);
          Object.assign(e, { stdout: this.scrub(stdout), stderr });
          reject(e);
        } else resolve({ stdout, stderr });
      });
    });
  }

  scrub(text: string): string {
    return scrub(text, [this.opts.token]);
  }

  /** Runs git; errors become GitError with the command and scrubbed output. */
  async run(args: string[], opts: { network?: boolean } = {}): Promise<string> {
    if (opts.network) return (await this.runNetwork(args)).stdout;
    try {
      return await this.local.raw(args);
    } catch (e) {
      throw new GitError(`git ${args[0]} failed: ${this.scrub((e as Error).message).trim()}`);
    }
  }

  /** Like run, but resolves undefined instead of failing. */
  async tryRun(args: string[]): Promise<string | undefined> {
    try {
      return await this.local.raw(args);
    } catch {
      return undefined;
    }
  }

  async revParse(ref: string): Promise<string | undefined> {
    const out = await this.tryRun(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
    return out?.trim() || undefined;
  }

  async topLevel(): Promise<string> {
    return (await this.run(['rev-parse', '--show-toplevel'])).trim();
  }

  async remoteUrl(name = 'origin'): Promise<string> {
    const out = await this.tryRun(['remote', 'get-url', name]);
    if (!out?.trim()) throw new GitError(`this repository has no '${name}' remote`, `add it: git remote add ${name} <url>`);
    return out.trim();
  }

  async fetch(): Promise<void> {
    try {
      await this.run(['fetch', '--prune', '--quiet', 'origin'], { network: true });
    } catch (e) {
      const msg = (e as Error).message;
      // The token goes to origin's own host only: a redirect elsewhere is why it was not accepted.
      const moved = /redirecting to (\S+)|unable to update url base from redirection[^\n]*\n?[^\n]*redirect: (\S+)/i.exec(msg)
        // git asks for credentials of the host it was sent to: not origin's means a redirect.
        ?? (() => {
          const asked = /(?:Username for|Authentication failed for) '([^']+)'/.exec(msg)?.[1];
          const base = this.opts.httpBase?.replace(/\/+$/, '');
          return asked && base && !asked.startsWith(base) ? [asked, asked] : undefined;
        })();
      if (moved) throw new GitError(`origin redirected to ${scrub(moved[1] ?? moved[2] ?? '', this.opts.token ? [this.opts.token] : [])}, where the token is not sent`, 'point origin at the new address: git remote set-url origin <that url>');
      if (/could not read Username|Authentication failed|terminal prompts disabled|\b40[13]\b/.test(msg)) {
        throw new GitError(msg, this.opts.token ? 'the token in GITHUB_TOKEN (or GH_TOKEN) was refused by origin: check that it can read the repository' : 'origin needs credentials: set GITHUB_TOKEN (or GH_TOKEN)');
      }
      throw e;
    }
  }

  /** File content at a revision, or undefined when the file does not exist there. */
  async show(rev: string, file: string): Promise<string | undefined> {
    return this.tryRun(['show', `${rev}:${file}`]);
  }

  async statusPorcelain(): Promise<string> {
    return this.run(['status', '--porcelain']);
  }
}
