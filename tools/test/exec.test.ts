import { test } from 'node:test';
import assert from 'node:assert/strict';
import { childEnv, run } from '../lib/core/exec.js';

const SECRETS = {
  GITHUB_TOKEN: 'ghp_exec_test_token_value_000000000000',
  GH_TOKEN: 'gho_exec_test',
  REGISTRY_PASSWORD: 'pw-exec-test',
  AWS_SECRET_ACCESS_KEY: 'aws-exec-test',
  SSH_PRIVATE_KEY: 'key-exec-test',
  DOCKER_AUTH_CONFIG: '{"auths":{}}',
  HTTPS_PROXY: 'http://proxy.example:3128',
};

test('a child process gets the allowlisted environment by default: no token, password or key', async () => {
  const from = { ...process.env, ...SECRETS };
  const saved = { ...process.env };
  Object.assign(process.env, SECRETS);
  try {
    const { stdout } = await run('env', []);
    const names = stdout.split('\n').map((l) => l.split('=')[0]).filter(Boolean);
    for (const [k, v] of Object.entries(SECRETS)) {
      assert.ok(!names.includes(k), `${k} reached the child`);
      assert.ok(!stdout.includes(v), `the value of ${k} reached the child`);
    }
    assert.ok(names.includes('PATH') && names.includes('HOME'));
  } finally {
    for (const k of Object.keys(SECRETS)) if (!(k in saved)) delete process.env[k];
  }
  // Network children get the proxy, still no credential; `keep` cannot smuggle one in.
  const net = childEnv({ network: true, keep: ['GITHUB_TOKEN', 'GOPATH'] }, { ...from, GOPATH: '/go' });
  assert.equal(net.HTTPS_PROXY, SECRETS.HTTPS_PROXY);
  assert.equal(net.GOPATH, '/go');
  assert.equal(net.GITHUB_TOKEN, undefined);
  // A caller that needs more says so explicitly.
  const { stdout } = await run('env', [], { env: { PATH: process.env.PATH, EXPLICIT: 'yes' } });
  assert.match(stdout, /^EXPLICIT=yes$/m);
});
