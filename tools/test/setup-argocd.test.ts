// setup --argocd-binary: a released argocd binary is installed only with the sha256 pinned for
// this platform and the version go.mod pins; anything else is refused and nothing is installed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { argocdAssetName, installReleasedArgocd, readArgocdChecksums, writePatchedModfile } from '../commands/setup.js';
import { ConfigError } from '../lib/core/errors.js';
import { GO_TOOLS, pinnedVersion } from '../lib/core/tools.js';

const tmp = await mkdtemp(path.join(os.tmpdir(), 'setup-argocd-'));
after(() => rm(tmp, { recursive: true, force: true }));

const version = await pinnedVersion(GO_TOOLS.find((t) => t.name === 'argocd')!);
const asset = argocdAssetName('linux', 'x64');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

async function setupWith(content: string, checksums: string): Promise<{ dir: string; run: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmp, 'case-'));
  await writeFile(path.join(dir, asset), content);
  await writeFile(path.join(dir, 'sums.txt'), checksums);
  return { dir, run: () => installReleasedArgocd({ binary: path.join(dir, asset), dir: path.join(dir, 'bin'), checksums: path.join(dir, 'sums.txt'), platform: 'linux', arch: 'x64' }) };
}

test('the asset name of each platform', () => {
  assert.equal(asset, 'argocd-linux-amd64');
  assert.equal(argocdAssetName('darwin', 'arm64'), 'argocd-darwin-arm64');
  assert.equal(argocdAssetName('win32', 'x64'), 'argocd-windows-amd64.exe');
});

test('a binary with the pinned checksum is installed, executable, with a stamp naming version and checksum', async () => {
  const body = '#!/bin/sh\necho released\n';
  const c = await setupWith(body, `# version: ${version}\n${sha('other')}  argocd-darwin-amd64\n${sha(body)}  ${asset}\n`);
  await c.run();
  const bin = path.join(c.dir, 'bin', 'argocd');
  assert.equal(await readFile(bin, 'utf8'), body);
  assert.equal((await stat(bin)).mode & 0o111, 0o111);
  assert.equal(await readFile(`${bin}.stamp`, 'utf8'), `released ${version} ${sha(body)}`);
});

test('a wrong checksum, another version, or no pinned checksum is refused and nothing is installed', async () => {
  const body = '#!/bin/sh\necho tampered\n';
  const wrong = await setupWith(body, `# version: ${version}\n${sha('the real one')}  ${asset}\n`);
  await assert.rejects(wrong.run(), new RegExp(`sha256 ${sha(body)} is not the pinned ${sha('the real one')} of ${asset} ${version.replaceAll('.', '\\.')}.*it is not installed`));
  assert.equal(existsSync(path.join(wrong.dir, 'bin', 'argocd')), false);
  const old = await setupWith(body, `# version: v3.4.0\n${sha(body)}  ${asset}\n`);
  await assert.rejects(old.run(), new RegExp(`the checksums are for v3\\.4\\.0, but tools/go/argocd/go\\.mod pins Argo CD ${version.replaceAll('.', '\\.')}`));
  assert.equal(existsSync(path.join(old.dir, 'bin', 'argocd')), false);
  const none = await setupWith(body, `# version: ${version}\n${sha(body)}  argocd-darwin-arm64\n`);
  await assert.rejects(none.run(), new RegExp(`no checksum pinned for ${asset} ${version.replaceAll('.', '\\.')}`));
  const bad = await setupWith(body, `# version: ${version}\nnot a checksum line\n`);
  await assert.rejects(bad.run(), /line 2: expected '<sha256> {2}<asset name>'/);
});

test('the committed checksum list names the version go.mod pins (a bump without new checksums is caught here)', async () => {
  const { version: listed } = await readArgocdChecksums();
  assert.equal(listed, version);
});

test('the build patch: a -modfile pointing Argo CD at a mirror with the one edited line; an edit whose text is gone is refused', async () => {
  const tool = GO_TOOLS.find((t) => t.name === 'argocd')!;
  const env = { ...process.env, GOFLAGS: '', GOWORK: 'off' };
  const into = path.join(tmp, 'patched');
  const modfile = await writePatchedModfile(tool, into, env);
  const mod = await readFile(modfile, 'utf8');
  assert.match(mod, new RegExp(`\\nreplace github.com/argoproj/argo-cd/v3 => ${path.join(into, 'src').replaceAll('/', '\\/')}\\n$`));
  const edited = await readFile(path.join(into, 'src', 'controller', 'appcontroller.go'), 'utf8');
  assert.ok(edited.includes('fmt.Sprintf("127.0.0.1:%d", metricsPort)') && !edited.includes('"0.0.0.0:%d"'));
  // Every other file is the module's own.
  const original = path.join(into, 'src', 'controller', 'appcontroller_test.go');
  assert.ok((await lstat(original)).isFile(), 'a hard link or copy, not a symlink (go:embed refuses those)');
  await assert.rejects(
    writePatchedModfile({ ...tool, patches: [{ file: 'controller/appcontroller.go', from: 'no such text', to: 'x', why: 'a test' }] }, path.join(tmp, 'patched2'), env),
    (e: Error) => e instanceof ConfigError && /the patch for a test expects `no such text` once in github.com\/argoproj\/argo-cd\/v3\/controller\/appcontroller.go, found 0/.test(e.message),
  );
});
