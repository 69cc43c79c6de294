// Tag -> digest against a real distribution registry (Basic auth), a Bearer-token registry stand-in,
// and the URL rules (Docker Hub names, plain http only for loopback or listed registries).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RegistryError } from '../lib/errors.js';
import { isInsecure, loadCredentials, parseChallenge, resolveDigest } from '../lib/registry.js';
import { pushImage, startRegistry, type RegistryHandle } from './harness/registry.js';

const NO_CREDS: NodeJS.ProcessEnv = { HOME: '/nonexistent', PATH: process.env.PATH };

describe('resolveDigest against a real registry with Basic auth', () => {
  let tmp: string;
  let registry: RegistryHandle;

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'registry-test-'));
    registry = await startRegistry({ dir: path.join(tmp, 'storage'), username: 'ci', password: 's3cret-pass' });
  });
  after(async () => {
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  test('credentials from GITOPS_REGISTRY_USER/PASSWORD; the digest is the one the registry reports', { timeout: 60_000 }, async () => {
    const pushed = await pushImage(registry, { name: 'crianex/api', tag: '1.2.3' });
    const digest = await resolveDigest(`${registry.host}/crianex/api`, '1.2.3', { envVars: { ...NO_CREDS, GITOPS_REGISTRY_USER: 'ci', GITOPS_REGISTRY_PASSWORD: 's3cret-pass' } });
    assert.equal(digest, pushed.digest);
  });

  test('an image index resolves to the index digest, not one platform', { timeout: 60_000 }, async () => {
    const pushed = await pushImage(registry, { name: 'crianex/multi', tag: 'v1', asIndex: true });
    assert.notEqual(pushed.digest, pushed.manifestDigest);
    const digest = await resolveDigest(`${registry.host}/crianex/multi`, 'v1', { envVars: { ...NO_CREDS, GITOPS_REGISTRY_USER: 'ci', GITOPS_REGISTRY_PASSWORD: 's3cret-pass' } });
    assert.equal(digest, pushed.digest);
  });

  test('credentials from ~/.docker/config.json auths (DOCKER_CONFIG)', { timeout: 60_000 }, async () => {
    const pushed = await pushImage(registry, { name: 'crianex/web', tag: '2.0.0' });
    const dir = path.join(tmp, 'docker');
    await rm(dir, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: { [`http://${registry.host}`]: { auth: Buffer.from('ci:s3cret-pass').toString('base64') } } }));
    assert.deepEqual(await loadCredentials(registry.host, { envVars: { ...NO_CREDS, DOCKER_CONFIG: dir } }), { username: 'ci', password: 's3cret-pass' });
    assert.equal(await resolveDigest(`${registry.host}/crianex/web`, '2.0.0', { envVars: { ...NO_CREDS, DOCKER_CONFIG: dir } }), pushed.digest);
  });

  test('without credentials, or with wrong ones, the error says how to log in', { timeout: 30_000 }, async () => {
    await pushImage(registry, { name: 'crianex/api', tag: '1.2.4' });
    await assert.rejects(resolveDigest(`${registry.host}/crianex/api`, '1.2.4', { envVars: NO_CREDS }), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.match(e.message, /requires credentials/);
      assert.match(e.hint ?? '', /docker login/);
      return true;
    });
    await assert.rejects(
      resolveDigest(`${registry.host}/crianex/api`, '1.2.4', { envVars: { ...NO_CREDS, GITOPS_REGISTRY_USER: 'ci', GITOPS_REGISTRY_PASSWORD: 'wrong' } }),
      (e: unknown) => e instanceof RegistryError && /with the configured credentials/.test(e.message) && !e.message.includes('wrong'),
    );
  });

  test('an unknown tag is a RegistryError naming the tag and image', { timeout: 30_000 }, async () => {
    await assert.rejects(
      resolveDigest(`${registry.host}/crianex/api`, 'nope', { envVars: { ...NO_CREDS, GITOPS_REGISTRY_USER: 'ci', GITOPS_REGISTRY_PASSWORD: 's3cret-pass' } }),
      (e: unknown) => e instanceof RegistryError && /tag 'nope' of .*crianex\/api not found/.test(e.message),
    );
  });
});

describe('resolveDigest with a Bearer token service', () => {
  const DIGEST = `sha256:${'c'.repeat(64)}`;
  let server: http.Server;
  let url: string;
  const seen: string[] = [];
  let omitDigestHeader = false;

  before(async () => {
    server = http.createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      seen.push(`${req.method} ${u.pathname}${u.search} ${req.headers.authorization ?? '-'}`);
      if (u.pathname === '/token') {
        const ok = req.headers.authorization === `Basic ${Buffer.from('robot:pw').toString('base64')}`;
        if (!ok || u.searchParams.get('scope') !== 'repository:team/app:pull' || u.searchParams.get('service') !== 'test-registry') {
          res.writeHead(401).end();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: 'tok-123' }));
        return;
      }
      if (u.pathname === '/v2/team/app/manifests/1.0') {
        if (req.headers.authorization !== 'Bearer tok-123') {
          res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${url}/token",service="test-registry",scope="repository:team/app:pull"` }).end();
          return;
        }
        const body = '{"schemaVersion":2}';
        res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', ...(omitDigestHeader ? {} : { 'Docker-Content-Digest': DIGEST }) });
        res.end(req.method === 'GET' ? body : undefined);
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('follows realm/service/scope with Basic credentials, then retries with the token', async () => {
    const host = url.replace('http://', '');
    const digest = await resolveDigest(`${host}/team/app`, '1.0', { envVars: { ...NO_CREDS, GITOPS_REGISTRY_USER: 'robot', GITOPS_REGISTRY_PASSWORD: 'pw' } });
    assert.equal(digest, DIGEST);
    assert.deepEqual(
      seen.map((s) => s.split(' ').slice(0, 2).join(' ')),
      ['HEAD /v2/team/app/manifests/1.0', 'GET /token?service=test-registry&scope=repository%3Ateam%2Fapp%3Apull', 'HEAD /v2/team/app/manifests/1.0'],
    );
  });

  test('a HEAD without Docker-Content-Digest falls back to hashing the GET body', async () => {
    omitDigestHeader = true;
    try {
      const host = url.replace('http://', '');
      const digest = await resolveDigest(`${host}/team/app`, '1.0', { envVars: { ...NO_CREDS, GITOPS_REGISTRY_USER: 'robot', GITOPS_REGISTRY_PASSWORD: 'pw' } });
      const { createHash } = await import('node:crypto');
      assert.equal(digest, `sha256:${createHash('sha256').update('{"schemaVersion":2}').digest('hex')}`);
    } finally {
      omitDigestHeader = false;
    }
  });
});

describe('registry URLs', () => {
  test('Docker Hub names go to registry-1.docker.io/v2/library/...; https unless loopback or listed', async () => {
    const urls: string[] = [];
    const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
      urls.push(`${init?.method ?? 'GET'} ${String(input)} ${(init?.headers as Record<string, string>).Accept}`);
      return new Response(null, { status: 200, headers: { 'Docker-Content-Digest': `sha256:${'d'.repeat(64)}` } });
    }) as typeof fetch;
    await resolveDigest('redis', '7.4-alpine', { envVars: NO_CREDS, fetch: fakeFetch });
    await resolveDigest('registry.internal:5000/team/api', '1', { envVars: { ...NO_CREDS, GITOPS_INSECURE_REGISTRIES: 'registry.internal:5000' }, fetch: fakeFetch });
    await resolveDigest('ghcr.io/o/r', '1', { envVars: NO_CREDS, fetch: fakeFetch });
    assert.equal(urls[0]!.split(' ')[1], 'https://registry-1.docker.io/v2/library/redis/manifests/7.4-alpine');
    assert.match(urls[0]!, /application\/vnd\.oci\.image\.index\.v1\+json, application\/vnd\.oci\.image\.manifest\.v1\+json, application\/vnd\.docker\.distribution\.manifest\.list\.v2\+json, application\/vnd\.docker\.distribution\.manifest\.v2\+json/);
    assert.equal(urls[1]!.split(' ')[1], 'http://registry.internal:5000/v2/team/api/manifests/1');
    assert.equal(urls[2]!.split(' ')[1], 'https://ghcr.io/v2/o/r/manifests/1');
    assert.ok(isInsecure('127.0.0.1:5000') && isInsecure('localhost') && !isInsecure('ghcr.io', { envVars: {} }));
  });

  test('an unreachable registry is a RegistryError with a hint, not a stack trace', async () => {
    const srv = http.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    await assert.rejects(resolveDigest(`127.0.0.1:${port}/x`, '1', { envVars: NO_CREDS, timeoutMs: 2_000 }), (e: unknown) => e instanceof RegistryError && /cannot reach registry 127\.0\.0\.1/.test(e.message));
  });

  test('WWW-Authenticate parsing', () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull"'), {
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/redis:pull' },
    });
    assert.deepEqual(parseChallenge('Basic realm="harness-registry"'), { scheme: 'basic', params: { realm: 'harness-registry' } });
    assert.equal(parseChallenge(null), undefined);
  });
});
