// Tag -> digest through the OCI distribution API: HEAD /v2/<name>/manifests/<tag>, following a
// Bearer token challenge or answering a Basic one with the user's registry credentials. A
// credential is only ever sent to the host it belongs to (redirects and token realms included).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RegistryError } from '../core/errors.js';
import { DIGEST_RE, splitRegistry } from '../render/images.js';
import { networkTimeoutMs } from './network.js';

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

/** Normalizes a docker config `auths` key (`https://index.docker.io/v1/`, `ghcr.io`, `http://127.0.0.1:5000`) to host[:port]. */
function authKeyHost(key: string): string {
  return normalizeHost(key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, ''));
}

/** One name per registry: Docker Hub's spellings become `docker.io`; everything else is host[:port], lower-case. */
export function normalizeHost(hostPort: string): string {
  const h = hostPort.trim().toLowerCase();
  return h === 'index.docker.io' || h === 'registry-1.docker.io' ? 'docker.io' : h;
}

/**
 * Credentials that belong to one registry host, and only to it:
 *   - Docker's `config.json` (`$DOCKER_CONFIG/config.json`, else ~/.docker/config.json) `auths`
 *     entry whose key is that host[:port] (a scheme and path in the key are ignored);
 *   - else GITOPS_REGISTRY_USER / GITOPS_REGISTRY_PASSWORD, but only when GITOPS_REGISTRY_HOST names
 *     that host: a password in the environment is never sent to a host a repository file names.
 * credHelpers/credsStore are not consulted.
 */
export async function loadCredentials(registry: string, opts: RegistryOptions = {}): Promise<Credentials | undefined> {
  const env = opts.envVars ?? process.env;
  const want = normalizeHost(registry);
  const file = opts.dockerConfigPath ?? path.join(env.DOCKER_CONFIG ?? path.join(env.HOME ?? os.homedir(), '.docker'), 'config.json');
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text !== undefined) {
    let cfg: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
    try {
      cfg = JSON.parse(text) as typeof cfg;
    } catch {
      throw new RegistryError(`${file}: not valid JSON`, 'fix or remove the docker config file');
    }
    for (const [key, entry] of Object.entries(cfg.auths ?? {})) {
      if (authKeyHost(key) !== want || !entry || typeof entry !== 'object') continue;
      if (entry.username && entry.password) return { username: entry.username, password: entry.password };
      if (entry.auth) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
      }
    }
  }
  if (env.GITOPS_REGISTRY_USER && env.GITOPS_REGISTRY_PASSWORD && env.GITOPS_REGISTRY_HOST && normalizeHost(env.GITOPS_REGISTRY_HOST) === want) {
    return { username: env.GITOPS_REGISTRY_USER, password: env.GITOPS_REGISTRY_PASSWORD };
  }
  return undefined;
}

/**
 * Which host's credentials a Bearer token service may receive. Docker itself sends a registry's
 * Basic credentials to whatever realm the registry names; this toolkit does not: the realm gets
 * credentials only if they belong to it (same host, or its own `auths` entry). The one exception
 * is Docker Hub, whose token service auth.docker.io is where Docker's own `docker.io` login goes.
 * A realm on a host with no credentials of its own gets an anonymous token request.
 */
export function realmCredentialHost(registry: string, realmHost: string): string {
  const r = normalizeHost(registry);
  const t = normalizeHost(realmHost);
  if (r === 'docker.io' && t === 'auth.docker.io') return 'docker.io';
  return t;
}

const MAX_REDIRECTS = 5;

/**
 * fetch with redirects followed by hand: the Authorization header travels only to `authHost`
 * (host[:port] of the original request), is dropped as soon as a redirect leaves it, and an https
 * request never follows a redirect to plain http.
 */
async function fetchScoped(doFetch: typeof fetch, url: URL, init: { method: string; headers: Record<string, string>; auth?: string; timeoutMs: number }): Promise<Response> {
  const signal = AbortSignal.timeout(init.timeoutMs);
  const authHost = url.host;
  let cur = url;
  for (let hop = 0; ; hop++) {
    const headers = { ...init.headers, ...(init.auth && cur.host === authHost && (cur.protocol === url.protocol || cur.protocol === 'https:') ? { Authorization: init.auth } : {}) };
    const res = await doFetch(cur, { method: init.method, headers, redirect: 'manual', signal });
    if (![301, 302, 303, 307, 308].includes(res.status)) return res;
    const location = res.headers.get('location');
    await res.body?.cancel().catch(() => {});
    if (!location) return res;
    if (hop >= MAX_REDIRECTS) throw new RegistryError(`${url.host} redirected more than ${MAX_REDIRECTS} times for ${url.pathname}`);
    const next = new URL(location, cur);
    if (cur.protocol === 'https:' && next.protocol !== 'https:') throw new RegistryError(`${url.host} redirected ${url.pathname} from https to ${next.protocol}//${next.host}; refusing to downgrade`);
    cur = next;
  }
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

/**
 * An authenticated reader of one repository of a registry: the first request that meets a 401
 * answers its challenge (Bearer token or Basic), later requests reuse that Authorization.
 */
function repositoryReader(name: string, opts: RegistryOptions) {
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? networkTimeoutMs(opts.envVars ?? process.env, 15_000);
  const { registry, repository } = splitRegistry(name);
  const host = apiHost(registry);
  const scheme = isInsecure(host, opts) ? 'http' : 'https';
  let auth: string | undefined;
  const once = async (url: URL, method: 'HEAD' | 'GET', accept: string | undefined, what: string): Promise<Response> => {
    try {
      return await fetchScoped(doFetch, url, { method, headers: accept ? { Accept: accept } : {}, auth, timeoutMs });
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      if (isTimeout(e)) throw new RegistryError(`timed out after ${timeoutMs / 1000} s waiting for registry ${host} to resolve ${what}`, 'the registry did not answer; check the network (GITOPS_NETWORK_TIMEOUT sets the limit in seconds), or pin the digest yourself');
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new RegistryError(
        `cannot reach registry ${host} to resolve ${what}: ${cause?.code ?? cause?.message ?? (e as Error).message}`,
        scheme === 'https' ? `check the network; a registry that speaks plain http must be listed in GITOPS_INSECURE_REGISTRIES; or pin the digest yourself and pass --no-resolve` : 'is the registry running?',
      );
    }
  };
  return {
    host,
    /** `path` below /v2/<repository>/ (e.g. `manifests/1.0.0`). */
    async request(sub: string, method: 'HEAD' | 'GET', accept: string | undefined, what: string): Promise<Response> {
      const url = new URL(`${scheme}://${host}/v2/${repository}/${sub}`);
      let res = await once(url, method, accept, what);
      if (res.status === 401 && !auth) {
        await res.body?.cancel().catch(() => {});
        const challenge = parseChallenge(res.headers.get('www-authenticate'));
        const creds = await loadCredentials(registry, opts);
        if (challenge?.scheme === 'bearer') {
          auth = `Bearer ${await bearerToken(challenge, repository, registry, creds, { host, what, doFetch, timeoutMs, opts })}`;
        } else if (challenge?.scheme === 'basic') {
          if (!creds) throw unauthorized(host, what, false, opts);
          auth = basic(creds);
        } else {
          throw new RegistryError(`registry ${host} answered 401 for ${what} without a usable WWW-Authenticate challenge`);
        }
        res = await once(url, method, accept, what);
        if (res.status === 401 || res.status === 403) throw unauthorized(host, what, true, opts);
      }
      if (res.status === 429) throw new RegistryError(`registry ${host} is rate-limiting requests (429) for ${what}${res.headers.get('retry-after') ? `; retry after ${res.headers.get('retry-after')} s` : ''}`);
      if (res.status === 403) throw unauthorized(host, what, true, opts);
      return res;
    },
  };
}

/** Resolves `name:tag` to the digest the registry serves for it (the index's digest for multi-arch images). */
export async function resolveDigest(name: string, tag: string, opts: RegistryOptions = {}): Promise<string> {
  const reader = repositoryReader(name, opts);
  const host = reader.host;
  const what = `${name}:${tag}`;
  const sub = `manifests/${encodeURIComponent(tag)}`;
  const res = await reader.request(sub, 'HEAD', MANIFEST_MEDIA_TYPES.join(', '), what);
  if (res.status === 404) {
    throw new RegistryError(`tag '${tag}' of ${name} not found in registry ${host}`, `check the tag (push it first), or pass a digest: ${name}:${tag}@sha256:<hex>`);
  }
  if (!res.ok) throw new RegistryError(`registry ${host} answered ${res.status} ${res.statusText} for ${what}`);
  let digest = res.headers.get('docker-content-digest') ?? undefined;
  if (!digest) {
    // Some registries answer HEAD without the header: the digest is the hash of the manifest bytes.
    const get = await reader.request(sub, 'GET', MANIFEST_MEDIA_TYPES.join(', '), what);
    if (!get.ok) throw new RegistryError(`registry ${host} answered ${get.status} to GET ${what}`);
    digest = get.headers.get('docker-content-digest') ?? `sha256:${createHash('sha256').update(Buffer.from(await get.arrayBuffer())).digest('hex')}`;
  }
  if (!DIGEST_RE.test(digest)) throw new RegistryError(`registry ${host} reported digest '${digest}' for ${what}, which is not sha256:<64 hex>`);
  return digest;
}

/** Largest manifest or config blob read (they are a few KiB; a bigger answer is not an image). */
const MAX_JSON_BYTES = 4 * 1024 * 1024;

async function readJson(res: Response, what: string, digest?: string): Promise<Record<string, unknown>> {
  const buf = Buffer.from(await res.arrayBuffer());
  if (buf.length > MAX_JSON_BYTES) throw new RegistryError(`${what}: ${buf.length} bytes, more than an image manifest or config can be`);
  if (digest && `sha256:${createHash('sha256').update(buf).digest('hex')}` !== digest) throw new RegistryError(`${what}: the registry's bytes do not hash to ${digest}`);
  try {
    const v = JSON.parse(buf.toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* reported below */
  }
  throw new RegistryError(`${what}: not a JSON object`);
}

/**
 * When the image behind a digest was built: the `created` field of its OCI/Docker config blob
 * (for an index, the linux/amd64 image, else the first). Undefined when the config has none.
 * Every byte read is checked against its digest.
 */
export async function imageCreated(name: string, digest: string, opts: RegistryOptions = {}): Promise<string | undefined> {
  const reader = repositoryReader(name, opts);
  const what = `${name}@${digest}`;
  const manifest = async (d: string) => {
    const res = await reader.request(`manifests/${d}`, 'GET', MANIFEST_MEDIA_TYPES.join(', '), what);
    if (res.status === 404) throw new RegistryError(`${what} not found in registry ${reader.host}`);
    if (!res.ok) throw new RegistryError(`registry ${reader.host} answered ${res.status} for ${what}`);
    return readJson(res, what, d);
  };
  let m = await manifest(digest);
  if (Array.isArray(m.manifests)) {
    const list = m.manifests as Array<{ digest?: string; platform?: { os?: string; architecture?: string } }>;
    const pick = list.find((x) => x.platform?.os === 'linux' && x.platform?.architecture === 'amd64') ?? list[0];
    if (!pick?.digest || !DIGEST_RE.test(pick.digest)) return undefined;
    m = await manifest(pick.digest);
  }
  const cfg = (m.config as { digest?: string } | undefined)?.digest;
  if (!cfg || !DIGEST_RE.test(cfg)) return undefined;
  const res = await reader.request(`blobs/${cfg}`, 'GET', undefined, `${what} (config)`);
  if (!res.ok) throw new RegistryError(`registry ${reader.host} answered ${res.status} for the config of ${what}`);
  const created = (await readJson(res, `config of ${what}`, cfg)).created;
  return typeof created === 'string' && !Number.isNaN(Date.parse(created)) ? created : undefined;
}

function isTimeout(e: unknown): boolean {
  const name = (e as { name?: string }).name;
  return name === 'TimeoutError' || (name === 'AbortError' && /timeout/i.test(String((e as { cause?: unknown }).cause ?? '')));
}

function unauthorized(host: string, what: string, hadCreds: boolean, opts: RegistryOptions = {}): RegistryError {
  const env = opts.envVars ?? process.env;
  const unbound = env.GITOPS_REGISTRY_USER && env.GITOPS_REGISTRY_PASSWORD && normalizeHost(env.GITOPS_REGISTRY_HOST ?? '') !== normalizeHost(host);
  return new RegistryError(
    `registry ${host} refused access to ${what}${hadCreds ? ' with the configured credentials' : ' (it requires credentials)'}`,
    `run 'docker login ${host}' (credentials are read from ~/.docker/config.json auths, per host) or set GITOPS_REGISTRY_HOST=${host} with GITOPS_REGISTRY_USER and GITOPS_REGISTRY_PASSWORD` +
      (unbound ? ` (GITOPS_REGISTRY_USER/PASSWORD are set, but GITOPS_REGISTRY_HOST ${env.GITOPS_REGISTRY_HOST ? `names ${env.GITOPS_REGISTRY_HOST}` : 'is unset'}, so they are not sent to ${host})` : ''),
  );
}

async function bearerToken(
  challenge: Challenge,
  repository: string,
  registry: string,
  registryCreds: Credentials | undefined,
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
  // Credentials go to the token service only if they belong to its host (see realmCredentialHost).
  const credHost = realmCredentialHost(registry, realmUrl.host);
  const creds = credHost === normalizeHost(registry) || credHost === normalizeHost(ctx.host) ? registryCreds : await loadCredentials(credHost, ctx.opts);
  if (challenge.params.service) realmUrl.searchParams.set('service', challenge.params.service);
  realmUrl.searchParams.set('scope', challenge.params.scope ?? `repository:${repository}:pull`);
  let res: Response;
  try {
    // The credential is scoped to the realm's own host: a redirect elsewhere drops it.
    res = await fetchScoped(ctx.doFetch, realmUrl, { method: 'GET', headers: {}, auth: creds ? basic(creds) : undefined, timeoutMs: ctx.timeoutMs });
  } catch (e) {
    if (e instanceof RegistryError) throw e;
    if (isTimeout(e)) throw new RegistryError(`timed out after ${ctx.timeoutMs / 1000} s waiting for token service ${realmUrl.origin} of registry ${ctx.host}`);
    throw new RegistryError(`cannot reach token service ${realmUrl.origin} of registry ${ctx.host}: ${(e as Error).message}`);
  }
  if (res.status === 401 || res.status === 403) {
    if (!creds && registryCreds && credHost !== normalizeHost(registry)) {
      throw new RegistryError(
        `token service ${realmUrl.host} of registry ${ctx.host} refused an anonymous token for ${ctx.what}; the credentials of ${ctx.host} are not sent to another host`,
        `if ${realmUrl.host} is the registry's own token service, add an auths entry for ${realmUrl.host} to the docker config`,
      );
    }
    throw unauthorized(ctx.host, ctx.what, !!creds, ctx.opts);
  }
  if (!res.ok) throw new RegistryError(`token service ${realmUrl.origin} of registry ${ctx.host} answered ${res.status} for ${ctx.what}`);
  const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new RegistryError(`token service ${realmUrl.origin} of registry ${ctx.host} returned no token for ${ctx.what}`);
  return token;
}
