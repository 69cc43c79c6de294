// Tag -> digest through the OCI distribution API: HEAD /v2/<name>/manifests/<tag>, following a
// Bearer token challenge or answering a Basic one with the user's registry credentials.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RegistryError } from './errors.js';
import { DIGEST_RE, splitRegistry } from './images.js';

export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

export interface RegistryOptions {
  /** Environment to read credentials and settings from (default process.env). */
  envVars?: NodeJS.ProcessEnv;
  /** Registries (host[:port]) reached over plain http; loopback ones always are. Adds to GITOPS_INSECURE_REGISTRIES. */
  insecure?: string[];
  /** Docker config file (default $DOCKER_CONFIG/config.json, else ~/.docker/config.json). */
  dockerConfigPath?: string;
  /** Per request (default 15 s). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface Credentials {
  username: string;
  password: string;
}

/** host[:port] the API of a registry answers on (Docker Hub's API host is not docker.io). */
export function apiHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

function hostOnly(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(1, hostPort.indexOf(']'));
  return hostPort.replace(/:\d+$/, '');
}

export function isInsecure(registry: string, opts: RegistryOptions = {}): boolean {
  const env = opts.envVars ?? process.env;
  const h = hostOnly(registry);
  if (h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h)) return true;
  const list = [...(opts.insecure ?? []), ...(env.GITOPS_INSECURE_REGISTRIES ?? '').split(',')].map((s) => s.trim()).filter(Boolean);
  return list.includes(registry) || list.includes(h);
}

/** Normalizes a docker config `auths` key (`https://index.docker.io/v1/`, `ghcr.io`, `http://127.0.0.1:5000`). */
function authKeyHost(key: string): string {
  const h = key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  return h === 'index.docker.io' || h === 'registry-1.docker.io' ? 'docker.io' : h;
}

/** Credentials for a registry: ~/.docker/config.json `auths` for that host, else GITOPS_REGISTRY_USER/PASSWORD. */
export async function loadCredentials(registry: string, opts: RegistryOptions = {}): Promise<Credentials | undefined> {
  const env = opts.envVars ?? process.env;
  const file = opts.dockerConfigPath ?? path.join(env.DOCKER_CONFIG ?? path.join(env.HOME ?? os.homedir(), '.docker'), 'config.json');
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text !== undefined) {
    let cfg: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
    try {
      cfg = JSON.parse(text) as typeof cfg;
    } catch {
      throw new RegistryError(`${file}: not valid JSON`, 'fix or remove the docker config file');
    }
    const want = registry === 'registry-1.docker.io' ? 'docker.io' : registry;
    for (const [key, entry] of Object.entries(cfg.auths ?? {})) {
      if (authKeyHost(key) !== want) continue;
      if (entry.username && entry.password) return { username: entry.username, password: entry.password };
      if (entry.auth) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
      }
    }
  }
  if (env.GITOPS_REGISTRY_USER && env.GITOPS_REGISTRY_PASSWORD) return { username: env.GITOPS_REGISTRY_USER, password: env.GITOPS_REGISTRY_PASSWORD };
  return undefined;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="https://auth",service="registry",scope="repository:x:pull"`. */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1]!.toLowerCase(), params };
}

function basic(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/** Resolves `name:tag` to the digest the registry serves for it (the index's digest for multi-arch images). */
export async function resolveDigest(name: string, tag: string, opts: RegistryOptions = {}): Promise<string> {
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const { registry, repository } = splitRegistry(name);
  const host = apiHost(registry);
  const scheme = isInsecure(host, opts) ? 'http' : 'https';
  const url = `${scheme}://${host}/v2/${repository}/manifests/${encodeURIComponent(tag)}`;
  const what = `${name}:${tag}`;
  const request = async (method: 'HEAD' | 'GET', auth?: string): Promise<Response> => {
    try {
      return await doFetch(url, {
        method,
        headers: { Accept: MANIFEST_MEDIA_TYPES.join(', '), ...(auth ? { Authorization: auth } : {}) },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new RegistryError(
        `cannot reach registry ${host} to resolve ${what}: ${cause?.code ?? cause?.message ?? (e as Error).message}`,
        scheme === 'https' ? `check the network; a registry that speaks plain http must be listed in GITOPS_INSECURE_REGISTRIES; or pin the digest yourself and pass --no-resolve` : 'is the registry running?',
      );
    }
  };

  let auth: string | undefined;
  let res = await request('HEAD');
  if (res.status === 401) {
    const challenge = parseChallenge(res.headers.get('www-authenticate'));
    const creds = await loadCredentials(registry, opts);
    if (challenge?.scheme === 'bearer') {
      auth = `Bearer ${await bearerToken(challenge, repository, creds, { host, what, doFetch, timeoutMs, opts })}`;
    } else if (challenge?.scheme === 'basic') {
      if (!creds) throw unauthorized(host, what, false);
      auth = basic(creds);
    } else {
      throw new RegistryError(`registry ${host} answered 401 for ${what} without a usable WWW-Authenticate challenge`);
    }
    res = await request('HEAD', auth);
    if (res.status === 401 || res.status === 403) throw unauthorized(host, what, true);
  }
  if (res.status === 404) {
    throw new RegistryError(`tag '${tag}' of ${name} not found in registry ${host}`, `check the tag (push it first), or pass a digest: ${name}:${tag}@sha256:<hex>`);
  }
  if (res.status === 403) throw unauthorized(host, what, true);
  if (!res.ok) throw new RegistryError(`registry ${host} answered ${res.status} ${res.statusText} for ${what}`);
  let digest = res.headers.get('docker-content-digest') ?? undefined;
  if (!digest) {
    // Some registries answer HEAD without the header: the digest is the hash of the manifest bytes.
    const get = await request('GET', auth);
    if (!get.ok) throw new RegistryError(`registry ${host} answered ${get.status} to GET ${what}`);
    digest = get.headers.get('docker-content-digest') ?? `sha256:${createHash('sha256').update(Buffer.from(await get.arrayBuffer())).digest('hex')}`;
  }
  if (!DIGEST_RE.test(digest)) throw new RegistryError(`registry ${host} reported digest '${digest}' for ${what}, which is not sha256:<64 hex>`);
  return digest;
}

function unauthorized(host: string, what: string, hadCreds: boolean): RegistryError {
  return new RegistryError(
    `registry ${host} refused access to ${what}${hadCreds ? ' with the configured credentials' : ' (it requires credentials)'}`,
    `run 'docker login ${host}' (credentials are read from ~/.docker/config.json auths) or set GITOPS_REGISTRY_USER and GITOPS_REGISTRY_PASSWORD`,
  );
}

async function bearerToken(
  challenge: Challenge,
  repository: string,
  creds: Credentials | undefined,
  ctx: { host: string; what: string; doFetch: typeof fetch; timeoutMs: number; opts: RegistryOptions },
): Promise<string> {
  const realm = challenge.params.realm;
  let realmUrl: URL;
  try {
    realmUrl = new URL(realm ?? '');
  } catch {
    throw new RegistryError(`registry ${ctx.host} sent a Bearer challenge without a valid realm for ${ctx.what}`);
  }
  if (realmUrl.protocol !== 'https:' && !(realmUrl.protocol === 'http:' && isInsecure(realmUrl.host, ctx.opts))) {
    throw new RegistryError(`registry ${ctx.host} points to token service ${realmUrl.origin} over ${realmUrl.protocol}; refusing to send credentials there`);
  }
  if (challenge.params.service) realmUrl.searchParams.set('service', challenge.params.service);
  realmUrl.searchParams.set('scope', challenge.params.scope ?? `repository:${repository}:pull`);
  let res: Response;
  try {
    res = await ctx.doFetch(realmUrl, { headers: creds ? { Authorization: basic(creds) } : {}, signal: AbortSignal.timeout(ctx.timeoutMs) });
  } catch (e) {
    throw new RegistryError(`cannot reach token service ${realmUrl.origin} of registry ${ctx.host}: ${(e as Error).message}`);
  }
  if (res.status === 401 || res.status === 403) throw unauthorized(ctx.host, ctx.what, !!creds);
  if (!res.ok) throw new RegistryError(`token service ${realmUrl.origin} of registry ${ctx.host} answered ${res.status} for ${ctx.what}`);
  const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new RegistryError(`token service ${realmUrl.origin} of registry ${ctx.host} returned no token for ${ctx.what}`);
  return token;
}
