// Tag -> digest against a real distribution registry (Basic auth), a Bearer-token registry stand-in,
// and the URL rules (Docker Hub names, plain http only for loopback or listed registries).
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RegistryError } from '../lib/core/errors.js';
import { isInsecure, loadCredentials, parseChallenge, realmCredentialHost, resolveDigest } from '../lib/remote/registry.js';
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

  test('credentials from GITOPS_REGISTRY_USER/PASSWORD bound to GITOPS_REGISTRY_HOST; the digest is the one the registry reports', { timeout: 60_000 }, async () => {
    const pushed = await pushImage(registry, { name: 'crianex/api', tag: '1.2.3' });
    const digest = await resolveDigest(`${registry.host}/crianex/api`, '1.2.3', { envVars: { ...NO_CREDS, GITOPS_REGISTRY_HOST: registry.host, GITOPS_REGISTRY_USER: 'ci', GITOPS_REGISTRY_PASSWORD: 's3cret-pass' } });
    assert.equal(digest, pushed.digest);
  });

  test('an image index resolves to the index digest, not one platform', { timeout: 60_000 }, async () => {
    const pushed = await pushImage(registry, { name: 'crianex/multi', tag: 'v1', asIndex: true });
    assert.notEqual(pushed.digest, pushed.manifestDigest);
    const digest = await resolveDigest(`${registry.host}/crianex/multi`, 'v1', { envVars: { ...NO_CREDS, GITOPS_REGISTRY_HOST: registry.host, GITOPS_REGISTRY_USER: 'ci', GITOPS_REGISTRY_PASSWORD: 's3cret-pass' } });
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
      resolveDigest(`${registry.host}/crianex/api`, '1.2.4', { envVars: { ...NO_CREDS, GITOPS_REGISTRY_HOST: registry.host, GITOPS_REGISTRY_USER: 'ci', GITOPS_REGISTRY_PASSWORD: 'wrong' } }),
      (e: unknown) => e instanceof RegistryError && /with the configured credentials/.test(e.message) && !e.message.includes('wrong'),
    );
  });

  test('an unknown tag is a RegistryError naming the tag and image', { timeout: 30_000 }, async () => {
    await assert.rejects(
      resolveDigest(`${registry.host}/crianex/api`, 'nope', { envVars: { ...NO_CREDS, GITOPS_REGISTRY_HOST: registry.host, GITOPS_REGISTRY_USER: 'ci', GITOPS_REGISTRY_PASSWORD: 's3cret-pass' } }),
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
    const digest = await resolveDigest(`${host}/team/app`, '1.0', { envVars: { ...NO_CREDS, GITOPS_REGISTRY_HOST: host, GITOPS_REGISTRY_USER: 'robot', GITOPS_REGISTRY_PASSWORD: 'pw' } });
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
      const digest = await resolveDigest(`${host}/team/app`, '1.0', { envVars: { ...NO_CREDS, GITOPS_REGISTRY_HOST: host, GITOPS_REGISTRY_USER: 'robot', GITOPS_REGISTRY_PASSWORD: 'pw' } });
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

describe('credentials are sent only to the host they belong to', () => {
  // A: the real distribution registry (Basic auth). B and C: two more 127.0.0.1 servers, i.e. other hosts.
  const DIGEST = `sha256:${'e'.repeat(64)}`;
  let tmp: string;
  let a: RegistryHandle;
  let b: http.Server;
  let c: http.Server;
  let bHost = '';
  let cHost = '';
  const seenB: string[] = [];
  const seenC: string[] = [];
  const basicOf = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

  const listen = async (srv: http.Server) => {
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    return `127.0.0.1:${(srv.address() as AddressInfo).port}`;
  };

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'registry-hosts-'));
    a = await startRegistry({ dir: path.join(tmp, 'storage'), username: 'ci', password: 'a-secret' });
    b = http.createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      seenB.push(`${req.method} ${u.pathname} ${req.headers.authorization ?? '-'}`);
      if (u.pathname === '/v2/basic/app/manifests/1') {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="b"' }).end();
      } else if (u.pathname === '/v2/bearer/app/manifests/1') {
        if (req.headers.authorization === 'Bearer from-c') res.writeHead(200, { 'Docker-Content-Digest': DIGEST }).end();
        else res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${cHost}/token",service="b",scope="repository:bearer/app:pull"` }).end();
      } else if (u.pathname === '/v2/redir/app/manifests/1') {
        if (req.headers.authorization !== basicOf('bee', 'b-secret')) res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="b"' }).end();
        else res.writeHead(307, { Location: `http://${cHost}/v2/redir/app/manifests/1` }).end();
      } else res.writeHead(404).end();
    });
    c = http.createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      seenC.push(`${req.method} ${u.pathname} ${req.headers.authorization ?? '-'}`);
      if (u.pathname === '/token') {
        // Anonymous tokens are fine; C's own login gets one too.
        if (req.headers.authorization && req.headers.authorization !== basicOf('cee', 'c-secret')) res.writeHead(401).end();
        else res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: 'from-c' }));
      } else if (u.pathname === '/v2/redir/app/manifests/1') {
        res.writeHead(200, { 'Docker-Content-Digest': DIGEST }).end();
      } else res.writeHead(404).end();
    });
    bHost = await listen(b);
    cHost = await listen(c);
  });
  after(async () => {
    await a?.stop();
    await new Promise<void>((r) => b.close(() => r()));
    await new Promise<void>((r) => c.close(() => r()));
    await rm(tmp, { recursive: true, force: true });
  });

  async function dockerConfig(auths: Record<string, [string, string]>): Promise<string> {
    const dir = await mkdtemp(path.join(tmp, 'docker-'));
    const entries = Object.fromEntries(Object.entries(auths).map(([h, [u, p]]) => [h, { auth: Buffer.from(`${u}:${p}`).toString('base64') }]));
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: entries }));
    return dir;
  }

  const leaked = (secret: string) => [...seenB, ...seenC].filter((l) => {
    const auth = l.split(' ').slice(2).join(' ');
    if (auth === '-') return false;
    const decoded = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : auth;
    return decoded.includes(secret);
  });

  test('A\'s login (docker config and GITOPS_REGISTRY_* bound to A) works on A and never reaches B or C', { timeout: 60_000 }, async () => {
    const pushed = await pushImage(a, { name: 'team/app', tag: '1' });
    const dir = await dockerConfig({ [`http://${a.host}`]: ['ci', 'a-secret'] });
    const envs: NodeJS.ProcessEnv[] = [
      { ...NO_CREDS, DOCKER_CONFIG: dir },
      { ...NO_CREDS, GITOPS_REGISTRY_HOST: a.host, GITOPS_REGISTRY_USER: 'ci', GITOPS_REGISTRY_PASSWORD: 'a-secret' },
    ];
    for (const envVars of envs) {
      assert.equal(await resolveDigest(`${a.host}/team/app`, '1', { envVars }), pushed.digest);
      // B asks for Basic credentials: it has none of its own, so it gets none.
      await assert.rejects(resolveDigest(`${bHost}/basic/app`, '1', { envVars }), (e: unknown) => e instanceof RegistryError && /requires credentials/.test(e.message));
      // B's token realm is on C: C is asked anonymously, B gets C's token.
      assert.equal(await resolveDigest(`${bHost}/bearer/app`, '1', { envVars }), DIGEST);
    }
    assert.deepEqual(leaked('a-secret'), []);
    assert.ok(seenB.length >= 4 && seenC.length >= 2, 'B and C were asked');
    assert.ok(seenC.every((l) => l.endsWith(' -')), `C got no Authorization: ${seenC.join('; ')}`);
  });

  test('B\'s login goes to B only: not to its token realm on C, and not across B\'s redirect to C', { timeout: 30_000 }, async () => {
    seenB.length = 0;
    seenC.length = 0;
    const dir = await dockerConfig({ [bHost]: ['bee', 'b-secret'] });
    assert.equal(await resolveDigest(`${bHost}/bearer/app`, '1', { envVars: { ...NO_CREDS, DOCKER_CONFIG: dir } }), DIGEST);
    assert.equal(await resolveDigest(`${bHost}/redir/app`, '1', { envVars: { ...NO_CREDS, DOCKER_CONFIG: dir } }), DIGEST);
    assert.ok(seenB.includes(`HEAD /v2/redir/app/manifests/1 ${basicOf('bee', 'b-secret')}`), seenB.join('\n'));
    assert.ok(seenC.includes('HEAD /v2/redir/app/manifests/1 -'), 'the redirect target was reached without the header');
    assert.deepEqual(seenC.filter((l) => !l.endsWith(' -')), [], 'C never saw an Authorization header');
    assert.deepEqual(leaked('b-secret').filter((l) => !seenB.includes(l)), []);
    // C's own auths entry is what C's token service gets.
    seenC.length = 0;
    const both = await dockerConfig({ [bHost]: ['bee', 'b-secret'], [`https://${cHost}/v1/`]: ['cee', 'c-secret'] });
    assert.equal(await resolveDigest(`${bHost}/bearer/app`, '1', { envVars: { ...NO_CREDS, DOCKER_CONFIG: both } }), DIGEST);
    assert.ok(seenC.some((l) => l.endsWith(basicOf('cee', 'c-secret'))), seenC.join('\n'));
  });

  test('GITOPS_REGISTRY_USER/PASSWORD without GITOPS_REGISTRY_HOST are sent nowhere, and the error says why', { timeout: 30_000 }, async () => {
    await assert.rejects(resolveDigest(`${a.host}/team/app`, '1', { envVars: { ...NO_CREDS, GITOPS_REGISTRY_USER: 'ci', GITOPS_REGISTRY_PASSWORD: 'a-secret' } }), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.match(e.message, /requires credentials/);
      assert.match(e.hint ?? '', /GITOPS_REGISTRY_HOST is unset, so they are not sent to 127\.0\.0\.1:\d+/);
      return true;
    });
    assert.deepEqual(await loadCredentials('docker.io', { envVars: { ...NO_CREDS, GITOPS_REGISTRY_HOST: 'index.docker.io', GITOPS_REGISTRY_USER: 'u', GITOPS_REGISTRY_PASSWORD: 'p' } }), { username: 'u', password: 'p' });
    assert.equal(await loadCredentials('ghcr.io', { envVars: { ...NO_CREDS, GITOPS_REGISTRY_HOST: 'docker.io', GITOPS_REGISTRY_USER: 'u', GITOPS_REGISTRY_PASSWORD: 'p' } }), undefined);
    assert.equal(realmCredentialHost('docker.io', 'auth.docker.io'), 'docker.io');
    assert.equal(realmCredentialHost('ghcr.io', 'auth.docker.io'), 'auth.docker.io');
  });

  test('a registry that never answers is a timeout, reported as one', { timeout: 30_000 }, async () => {
    const silent = net.createServer(() => {});
    const host = await new Promise<string>((r) => silent.listen(0, '127.0.0.1', () => r(`127.0.0.1:${(silent.address() as AddressInfo).port}`)));
    try {
      const t0 = Date.now();
      await assert.rejects(resolveDigest(`${host}/x/y`, '1', { envVars: { ...NO_CREDS, GITOPS_NETWORK_TIMEOUT: '1' } }), (e: unknown) => e instanceof RegistryError && /^timed out after 1 s waiting for registry/.test(e.message));
      assert.ok(Date.now() - t0 < 5_000);
    } finally {
      silent.close();
    }
  });
});
