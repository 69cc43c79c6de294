// Smart-HTTP git server for tests: real `git http-backend` behind HTTP Basic auth, like GitHub's token auth.
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { cleanGitEnv, run } from './proc.js';

export interface GitServerOptions {
  /** Directory holding bare repositories (e.g. `<root>/gitops.git`). */
  root: string;
  /** The password HTTP Basic auth must carry; any username is accepted, as GitHub does for tokens. */
  token: string;
}

export interface GitRequestRecord {
  method: string;
  path: string;
  query: string;
  authorized: boolean;
  status: number;
}

export interface GitServerHandle {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Clone URL of a repository under root, without credentials. */
  repoUrl(name: string): string;
  /** Clone URL carrying `x-access-token:<token>` as userinfo. */
  authedRepoUrl(name: string, token?: string): string;
  requests: GitRequestRecord[];
  /** Makes the next `times` push (POST git-receive-pack) answer `status` without touching the repository. */
  failNextPush(status?: number, times?: number): void;
  stop(): Promise<void>;
}

const CGI_TIMEOUT_MS = 60_000;
const MAX_CGI_HEADER_BYTES = 64 * 1024;

let backendPath: Promise<string> | undefined;
function gitHttpBackend(): Promise<string> {
  backendPath ??= run('git', ['--exec-path'], { env: cleanGitEnv() }).then((r) =>
    path.join(r.stdout.trim(), 'git-http-backend'),
  );
  return backendPath;
}

/** Password from an `Authorization: Basic` header, or undefined. */
function basicPassword(header: string | undefined): string | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

function basicUser(header: string | undefined): string {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return 'anonymous';
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  return decoded.slice(0, Math.max(0, decoded.indexOf(':'))) || 'x-access-token';
}

export async function startGitServer(opts: GitServerOptions): Promise<GitServerHandle> {
  const backend = await gitHttpBackend();
  const requests: GitRequestRecord[] = [];
  let pushFailures: { status: number; remaining: number } | undefined;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const record: GitRequestRecord = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search.slice(1),
      authorized: basicPassword(req.headers.authorization) === opts.token,
      status: 0,
    };
    requests.push(record);
    res.on('finish', () => {
      record.status = res.statusCode;
    });

    if (!record.authorized) {
      // Drain so the client sees the 401 instead of a reset connection.
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"', 'Content-Type': 'text/plain' });
      res.end('Authentication required\n');
      return;
    }

    if (pushFailures && req.method === 'POST' && url.pathname.endsWith('/git-receive-pack')) {
      const { status } = pushFailures;
      if (--pushFailures.remaining <= 0) pushFailures = undefined;
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { 'Content-Type': 'text/plain' });
        res.end('injected push failure\n');
      });
      return;
    }

    let pathInfo: string;
    try {
      pathInfo = decodeURIComponent(url.pathname);
    } catch {
      req.resume();
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('malformed path\n');
      return;
    }
    const env = cleanGitEnv({
      GIT_PROJECT_ROOT: path.resolve(opts.root),
      GIT_HTTP_EXPORT_ALL: '1',
      // http-backend enables receive-pack (push) only when REMOTE_USER is set.
      REMOTE_USER: basicUser(req.headers.authorization),
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: pathInfo,
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    });
    // http-backend inflates gzip bodies itself when told the encoding.
    if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = req.headers['content-encoding'];
    if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
    if (req.headers['git-protocol']) env.GIT_PROTOCOL = String(req.headers['git-protocol']);

    const child = spawn(backend, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const killTimer = setTimeout(() => child.kill('SIGKILL'), CGI_TIMEOUT_MS);
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < 16_384) stderr += d;
    });
    child.stdin.on('error', () => {
      // The backend may exit before reading the whole body (e.g. on errors); its stdout says why.
    });
    req.pipe(child.stdin);

    let head = Buffer.alloc(0);
    let headersSent = false;
    const fail = (msg: string) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end(`${msg}\n${stderr}`);
      } else res.destroy();
    };
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersSent) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const text = head.toString('latin1');
      let sep = text.indexOf('\r\n\r\n');
      let sepLen = 4;
      const lf = text.indexOf('\n\n');
      if (lf >= 0 && (sep < 0 || lf < sep)) {
        sep = lf;
        sepLen = 2;
      }
      if (sep < 0) {
        if (head.length > MAX_CGI_HEADER_BYTES) {
          child.kill('SIGKILL');
          fail('git http-backend sent oversized headers');
        }
        return;
      }
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of text.slice(0, sep).split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      headersSent = true;
      const rest = head.subarray(sep + sepLen);
      if (rest.length) res.write(rest);
    });
    child.on('error', (err) => {
      clearTimeout(killTimer);
      fail(`cannot run git http-backend: ${err.message}`);
    });
    child.on('close', (code) => {
      clearTimeout(killTimer);
      if (!headersSent) fail(`git http-backend exited with ${code} before sending headers`);
      else res.end();
    });
    res.on('close', () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    requests,
    repoUrl: (name) => `${url}/${name}`,
    authedRepoUrl: (name, token = opts.token) =>
      `http://x-access-token:${encodeURIComponent(token)}@127.0.0.1:${port}/${name}`,
    failNextPush(status = 500, times = 1) {
      pushFailures = { status, remaining: times };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const IDENTITY = ['-c', 'user.name=Harness', '-c', 'user.email=harness@example.invalid', '-c', 'commit.gpgsign=false'];

export interface BareRepo {
  /** Absolute path of the bare repository. */
  path: string;
  /** Commit sha of `main` when seeded, else undefined. */
  head?: string;
}

/**
 * `git init --bare <root>/<name>` with `main` as HEAD; when seedDir is given its files become
 * the first commit of `main`, pushed with real git so the repository is exactly what a client would make.
 */
export async function createBareRepo(root: string, name: string, seedDir?: string): Promise<BareRepo> {
  const bare = path.resolve(root, name);
  const env = cleanGitEnv();
  await mkdir(root, { recursive: true });
  await run('git', ['init', '--quiet', '--bare', '--initial-branch=main', bare], { env });
  if (!seedDir) return { path: bare };

  // A throwaway git dir whose work tree is seedDir itself: no copy, and seedDir is left untouched.
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'harness-seed-'));
  try {
    const git = (...args: string[]) =>
      run('git', [...IDENTITY, `--git-dir=${scratch}`, `--work-tree=${path.resolve(seedDir)}`, ...args], { env });
    await run('git', ['init', '--quiet', '--bare', '--initial-branch=main', scratch], { env });
    await git('config', 'core.bare', 'false');
    await git('add', '--all');
    await git('commit', '--quiet', '--allow-empty', '-m', 'seed');
    await git('push', '--quiet', bare, 'HEAD:refs/heads/main');
    const head = (await git('rev-parse', 'HEAD')).stdout.trim();
    return { path: bare, head };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
