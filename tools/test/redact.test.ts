import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactText, redactValue, sensitiveKey } from '../lib/core/redact.js';
import { diffObjects, formatMarkdown, type DiffResult } from '../lib/report/diff.js';
import { formatGithub, formatJson, formatText } from '../lib/report/report.js';
import { type Finding } from '../lib/core/finding.js';

const TOKENS = {
  github: `ghp_${'a1B2'.repeat(9)}`,
  githubApp: `ghs_${'Z9y8'.repeat(9)}`,
  fineGrained: `github_pat_11ABCDEFG0${'x'.repeat(60)}`,
  aws: 'AKIAIOSFODNN7EXAMPLE',
  slack: 'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx',
  jwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
  pem: '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc\n-----END RSA PRIVATE KEY-----',
  url: 'https://deploy:s3cr3t-pw@git.example.com/repo.git',
};

test('token shapes are redacted wherever they appear in a text', () => {
  for (const [name, t] of Object.entries(TOKENS)) {
    const out = redactText(`before ${t} after`, {});
    assert.ok(!out.includes(name === 'url' ? 's3cr3t-pw' : t), `${name} survived: ${out}`);
    assert.match(out, /^before .*<redacted>.* after$/s);
  }
  assert.equal(redactText('https://git.example.com/repo.git v1.2.3 sha256:abc', {}), 'https://git.example.com/repo.git v1.2.3 sha256:abc');
  // The values of the environment's own credentials, whatever their shape.
  assert.equal(redactText('x plain-looking-secret y', { MY_API_TOKEN: 'plain-looking-secret' }), 'x <redacted> y');
});

test('values under sensitive keys are redacted; references to secrets are not', () => {
  for (const k of ['password', 'DB_PASSWORD', 'apiToken', 'clientSecret', 'ssh-key', 'credentials.json', 'privateKey']) assert.ok(sensitiveKey(k), k);
  for (const k of ['secretName', 'secretKeyRef', 'existingSecretRef', 'name', 'image', 'replicas']) assert.ok(!sensitiveKey(k), k);
  const v = redactValue({ data: { password: 'p', mode: 'fast', note: `use ${TOKENS.github}` }, ref: { secretKeyRef: { name: 's', key: 'PASSWORD' } }, env: [{ name: 'API_TOKEN', value: 'x' }] });
  assert.deepEqual(v, { data: { password: '<redacted>', mode: 'fast', note: 'use <redacted>' }, ref: { secretKeyRef: { name: 's', key: 'PASSWORD' } }, env: [{ name: 'API_TOKEN', value: '<redacted>' }] });
});

test('validate formats: no token in text, json or github output, policy values included', () => {
  const f: Finding = { severity: 'error', rule: 'x', overlay: 'o', resource: 'ConfigMap/n/c', file: 'f.yaml', line: 3, message: `value ${TOKENS.github} and ${TOKENS.aws}\n::error::injected` };
  for (const out of [formatText([f], { overlays: 1, objects: 1 }), formatJson([f], { overlays: 1, objects: 1 }), formatGithub([f])]) {
    assert.ok(!out.includes(TOKENS.github) && !out.includes(TOKENS.aws), out);
  }
  assert.equal(formatGithub([f]).split('\n').length, 1, 'a message cannot start a workflow command of its own');
  assert.doesNotMatch(formatText([{ ...f, message: 'a\u001b[2Jb' }], { overlays: 1, objects: 1 }), /\u001b/);
});

test('markdown: repository text cannot close the fence, add HTML, comments, mentions or links', () => {
  const evil = '```\n</details><img src=x onerror=alert(1)> <!-- @octocat #1 [x](https://evil.example) |';
  const cm = (v: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n' }, data: { note: v } });
  const objects = diffObjects([cm('old')], [cm(evil)]);
  const d: DiffResult = { base: 'a'.repeat(40), head: 'working tree', overlays: [{ overlay: 'overlays/x/`<b>@team</b>`', app: 'a|b', env: '@env', objects, errors: [evil] }] };
  const md = formatMarkdown(d);
  const fences = md.split('\n').filter((l) => l.startsWith('```'));
  assert.deepEqual(fences, ['```diff', '```'], 'only the toolkit opens and closes a fence');
  // Outside the fence, repository text is only in code spans or escaped HTML.
  const outside = md.split('```diff')[0] + md.split('\n```\n')[1];
  assert.doesNotMatch(outside.replace(/`[^`\n]*`/g, ''), /<img|<!--|@octocat|@team|@env|#1|\]\(https/);
  assert.match(md, /\| `a\\\|b` \|/);
});

test('one secret-name rule: what a child never gets is what output never shows', async () => {
  const { childEnv } = await import('../lib/core/exec.js');
  const { redactText } = await import('../lib/core/redact.js');
  const { withoutSecrets } = await import('../lib/core/childenv.js');
  for (const name of ['SESSION_ID', 'MY_COOKIE', 'GITOPS_REGISTRY_PASSWORD', 'API_KEY', 'NPM_AUTH']) {
    const value = `v4lue-of-${name.toLowerCase()}-0123`;
    const env = { PATH: '/usr/bin', [name]: value };
    assert.equal(childEnv({ keep: [name] }, env)[name], undefined, `${name} reaches a child`);
    assert.equal(withoutSecrets(env)[name], undefined, `${name} reaches git`);
    assert.ok(!redactText(`x ${value} y`, env).includes(value), `${name}'s value is printed`);
  }
});
