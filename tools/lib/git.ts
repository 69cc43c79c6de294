// git through simple-git, with the push token passed per command (never in argv, never in .git/config)
// and scrubbed from every error message.
import { simpleGit, type SimpleGit } from 'simple-git';
import { GitError } from './errors.js';

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

export class Git {
  private readonly local: SimpleGit;
  private readonly remote: SimpleGit;
  constructor(
    readonly dir: string,
    private readonly opts: GitOptions = {},
  ) {
    this.local = this.client(false);
    this.remote = this.client(true);
  }

  private client(network: boolean): SimpleGit {
    const src = this.opts.envVars ?? process.env;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(src)) if (v !== undefined && !k.toUpperCase().startsWith('GIT_') && !DROPPED.has(k.toUpperCase())) env[k] = v;
    const extra: Record<string, string> = { GIT_TERMINAL_PROMPT: '0' };
    for (const k of PASSTHROUGH) if (src[k]) extra[k] = src[k]!;
    if (network && this.opts.token && this.opts.httpBase) {
      extra.GIT_CONFIG_COUNT = '1';
      extra.GIT_CONFIG_KEY_0 = `http.${this.opts.httpBase}.extraHeader`;
      extra.GIT_CONFIG_VALUE_0 = `Authorization: ${authHeaderValue(this.opts.token)}`;
    }
    const timeout = this.opts.timeoutMs ?? 120_000;
    return simpleGit({
      baseDir: this.dir,
      maxConcurrentProcesses: 4,
      allowEnvironment: Object.keys(extra),
      unsafe: { allowUnsafeConfigEnvCount: true, allowUnsafeSshCommand: true },
      ...(timeout ? { timeout: { block: timeout } } : {}),
    }).env({ ...env, ...extra });
  }

  scrub(text: string): string {
    return scrub(text, [this.opts.token]);
  }

  /** Runs git; errors become GitError with the command and scrubbed output. */
  async run(args: string[], opts: { network?: boolean } = {}): Promise<string> {
    try {
      return await (opts.network ? this.remote : this.local).raw(args);
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
