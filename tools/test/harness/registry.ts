// A real OCI registry (Debian's CNCF distribution, `docker-registry`) plus a node-only image builder pushed with skopeo.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import { findExecutable, run, sleep, terminate } from './proc.js';

const INSTALL_HINT = 'apt-get install -y docker-registry skopeo';
const READY_TIMEOUT_MS = 10_000;
const START_ATTEMPTS = 3;

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

/** Accept header that lets the registry answer with whatever it stored (index or manifest, OCI or Docker). */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerList,
  MEDIA_TYPES.dockerManifest,
].join(', ');

export interface RegistryOptions {
  /** Filesystem storage root of the registry. */
  dir: string;
  /** When both are set, the registry requires HTTP Basic auth (htpasswd, bcrypt). */
  username?: string;
  password?: string;
}

export interface RegistryHandle {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`, the registry part of an image reference. */
  host: string;
  port: number;
  username?: string;
  password?: string;
  /** Recent registry stderr, for assertion messages. */
  logs(): string;
  stop(): Promise<void>;
}

async function requireBinary(name: string): Promise<string> {
  const found = await findExecutable(name);
  if (!found) throw new Error(`${name} not found on PATH; install it with: ${INSTALL_HINT}`);
  return found;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function basicAuth(username?: string, password?: string): Record<string, string> {
  if (username === undefined || password === undefined) return {};
  return { Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
}

export async function startRegistry(opts: RegistryOptions): Promise<RegistryHandle> {
  const bin = await requireBinary('docker-registry');
  const auth = opts.username !== undefined && opts.password !== undefined;
  await mkdir(opts.dir, { recursive: true });
  const confDir = await mkdtemp(path.join(os.tmpdir(), 'harness-registry-'));

  const htpasswd = path.join(confDir, 'htpasswd');
  if (auth) await writeFile(htpasswd, `${opts.username}:${bcrypt.hashSync(opts.password!, 10)}\n`, { mode: 0o600 });

  let lastError = '';
  // The free port is only reserved until we close it, so another process may grab it: retry a few times.
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = await freePort();
    const config = {
      version: 0.1,
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: path.resolve(opts.dir) }, delete: { enabled: true } },
      http: { addr: `127.0.0.1:${port}`, secret: randomBytes(16).toString('hex') },
      ...(auth ? { auth: { htpasswd: { realm: 'harness-registry', path: htpasswd } } } : {}),
    };
    const configPath = path.join(confDir, 'config.yml');
    await writeFile(configPath, stringify(config));

    const child = spawn(bin, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let logs = '';
    const keep = (d: Buffer) => {
      logs = (logs + d.toString('utf8')).slice(-32_768);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let spawnError: Error | undefined;
    child.on('error', (err) => {
      spawnError = err;
    });

    const url = `http://127.0.0.1:${port}`;
    if (await waitReady(child, url, () => spawnError)) {
      return {
        url,
        host: `127.0.0.1:${port}`,
        port,
        username: opts.username,
        password: opts.password,
        logs: () => logs,
        async stop() {
          await terminate(child);
          await rm(confDir, { recursive: true, force: true });
        },
      };
    }
    await terminate(child);
    lastError = spawnError?.message ?? logs;
  }
  await rm(confDir, { recursive: true, force: true });
  throw new Error(`docker-registry did not become ready after ${START_ATTEMPTS} attempts:\n${lastError}`);
}

/** Polls GET /v2/ until it answers (200, or 401 when auth is on); false if the process died or time ran out. */
async function waitReady(child: ChildProcess, url: string, spawnError: () => Error | undefined): Promise<boolean> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (spawnError() || child.exitCode !== null || child.signalCode !== null) return false;
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return true;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Image building: a minimal OCI image layout written with node only, so tests need no container runtime.

export interface PushImageOptions {
  /** Repository name, e.g. `crianex/api`. */
  name: string;
  tag: string;
  /** Files of the single layer (path -> content). Defaults to one file naming the image, so tags differ in digest. */
  files?: Record<string, string>;
  /** Push an OCI image index (manifest list) pointing at the manifest instead of the bare manifest. */
  asIndex?: boolean;
  /** Platform recorded in the config and the index entry. */
  platform?: { os: string; architecture: string };
  /** The config's `created` time (RFC 3339), as a build would record it. */
  created?: string;
}

export interface PushedImage {
  /** `127.0.0.1:PORT/name:tag` */
  ref: string;
  /** The digest the registry reports for the tag (Docker-Content-Digest of a HEAD). */
  digest: string;
  /** What skopeo wrote with --digestfile; equals `digest` unless something rewrote the image. */
  skopeoDigest: string;
  /** Media type of the tag: OCI index when asIndex, else OCI manifest. */
  mediaType: string;
  /** Digest of the image manifest itself (equals `digest` when not an index). */
  manifestDigest: string;
}

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Writes a ustar archive by hand: regular files plus their parent directories, sorted, fixed mtime/owner for stable digests. */
export function makeTar(files: Record<string, string>): Buffer {
  const entries = new Map<string, Buffer | null>();
  for (const [rawName, content] of Object.entries(files)) {
    const name = rawName.replace(/^\/+/, '');
    if (!name || name.split('/').includes('..')) throw new Error(`invalid tar path: ${rawName}`);
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) entries.set(`${parts.slice(0, i).join('/')}/`, null);
    entries.set(name, Buffer.from(content, 'utf8'));
  }
  const blocks: Buffer[] = [];
  for (const name of [...entries.keys()].sort()) {
    const data = entries.get(name) ?? null;
    blocks.push(tarHeader(name, data === null ? 0 : data.length, data === null ? '5' : '0'));
    if (data) {
      blocks.push(data);
      const pad = (512 - (data.length % 512)) % 512;
      if (pad) blocks.push(Buffer.alloc(pad));
    }
  }
  blocks.push(Buffer.alloc(1024)); // end-of-archive marker
  return Buffer.concat(blocks);
}

function tarHeader(name: string, size: number, type: '0' | '5'): Buffer {
  const h = Buffer.alloc(512);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    // ustar splits long paths at a slash into prefix (155) + name (100).
    const cut = name.lastIndexOf('/', name.length - 2);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
    if (cut < 0 || Buffer.byteLength(prefix) > 155 || Buffer.byteLength(base) > 100) throw new Error(`tar path too long: ${name}`);
  }
  const put = (value: string, offset: number, length: number) => h.write(value, offset, length, 'utf8');
  const octal = (n: number, length: number) => `${n.toString(8).padStart(length - 1, '0')}\0`;
  put(base, 0, 100);
  put(octal(type === '5' ? 0o755 : 0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(0, 12), 136, 12);
  put('        ', 148, 8); // checksum is computed with its own field as spaces
  put(type, 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put('root', 265, 32);
  put('root', 297, 32);
  put(prefix, 345, 155);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string };
  annotations?: Record<string, string>;
}

/** Builds an OCI image layout in `dir`; returns the descriptor index.json tags with `tag` and the manifest's. */
export async function writeOciLayout(
  dir: string,
  opts: Omit<PushImageOptions, 'name'> & { name?: string },
): Promise<{ top: Descriptor; manifest: Descriptor }> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const putBlob = async (data: Buffer | string, mediaType: string): Promise<Descriptor> => {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8');
    const digest = sha256(buf);
    await writeFile(path.join(blobs, digest.slice('sha256:'.length)), buf);
    return { mediaType, digest, size: buf.length };
  };
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const files = opts.files ?? { 'etc/harness-image': `${opts.name ?? 'image'}:${opts.tag}\n` };

  const tar = makeTar(files);
  const layer = await putBlob(gzipSync(tar, { level: 9 }), MEDIA_TYPES.ociLayerGzip);
  const config = await putBlob(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      ...(opts.created ? { created: opts.created } : {}),
      config: {},
      rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
    }),
    MEDIA_TYPES.ociConfig,
  );
  const manifest = await putBlob(
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config, layers: [layer] }),
    MEDIA_TYPES.ociManifest,
  );
  let top: Descriptor = manifest;
  if (opts.asIndex) {
    top = await putBlob(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: [{ ...manifest, platform }],
      }),
      MEDIA_TYPES.ociIndex,
    );
  }
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': opts.tag } }],
    }),
  );
  return { top, manifest: { ...manifest, platform } };
}

/** Builds a tiny image with node and pushes it with skopeo; returns what the registry reports for the tag. */
export async function pushImage(registry: RegistryHandle, opts: PushImageOptions): Promise<PushedImage> {
  const skopeo = await requireBinary('skopeo');
  const work = await mkdtemp(path.join(os.tmpdir(), 'harness-image-'));
  try {
    const layoutDir = path.join(work, 'layout');
    const { top, manifest } = await writeOciLayout(layoutDir, opts);
    const digestFile = path.join(work, 'digest');
    const ref = `${registry.host}/${opts.name}:${opts.tag}`;
    const creds =
      registry.username !== undefined && registry.password !== undefined
        ? ['--dest-creds', `${registry.username}:${registry.password}`]
        : ['--dest-no-creds'];
    await run(
      skopeo,
      [
        '--insecure-policy', // no dependence on /etc/containers/policy.json
        'copy',
        '--quiet',
        '--all', // keep an index an index instead of picking one platform
        '--preserve-digests', // fail rather than silently convert the manifest
        '--dest-tls-verify=false',
        '--tmpdir',
        work,
        '--digestfile',
        digestFile,
        ...creds,
        `oci:${layoutDir}:${opts.tag}`,
        `docker://${ref}`,
      ],
      { timeoutMs: 60_000 },
    );
    const skopeoDigest = (await readFile(digestFile, 'utf8')).trim();
    const head = await headManifest(registry, opts.name, opts.tag);
    if (head.status !== 200 || !head.digest) {
      throw new Error(`HEAD ${ref} answered ${head.status} after a successful push\n${registry.logs()}`);
    }
    if (head.digest !== top.digest) {
      throw new Error(`registry reports ${head.digest} for ${ref} but the pushed ${top.mediaType} is ${top.digest}`);
    }
    return { ref, digest: head.digest, skopeoDigest, mediaType: head.mediaType ?? top.mediaType, manifestDigest: manifest.digest };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export interface ManifestHead {
  status: number;
  digest?: string;
  mediaType?: string;
}

/** HEAD /v2/<name>/manifests/<reference> with the Accept list a digest resolver uses. */
export async function headManifest(
  registry: Pick<RegistryHandle, 'url' | 'username' | 'password'>,
  name: string,
  reference: string,
  opts: { auth?: boolean } = {},
): Promise<ManifestHead> {
  const useAuth = opts.auth ?? true;
  const res = await fetch(`${registry.url}/v2/${name}/manifests/${reference}`, {
    method: 'HEAD',
    headers: { Accept: MANIFEST_ACCEPT, ...(useAuth ? basicAuth(registry.username, registry.password) : {}) },
    signal: AbortSignal.timeout(10_000),
  });
  await res.arrayBuffer();
  return {
    status: res.status,
    digest: res.headers.get('docker-content-digest') ?? undefined,
    mediaType: res.headers.get('content-type') ?? undefined,
  };
}
