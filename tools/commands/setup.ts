import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, link, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { childEnv, run } from '../lib/core/exec.js';
import { ConfigError, ToolMissingError, UsageError } from '../lib/core/errors.js';
import { GO_TOOLS, GO_TOOLS_DIR, isExecutable, pinnedVersion, RENOVATE_DIR, renovatePaths, toolsDir, type GoTool } from '../lib/core/tools.js';

export interface SetupOptions {
  cwd: string;
  /** Also install the Debian packages the tests run for real (registry, skopeo). */
  testDeps?: boolean;
  /** Also build the pinned helm (otherwise only when a clusters/<cluster>/argocd-cm.yaml enables helm). */
  helm?: boolean;
  /** Also build the sync rehearsal's simulated-cluster binaries (controllers, kwok); --test-deps implies it. */
  rehearse?: boolean;
  /**
   * A released `argocd` binary of the pinned version (argocd-linux-amd64 from Argo CD's release
   * page) to install instead of building it, accepted only with the sha256 that
   * tools/go/argocd/release-checksums.txt pins for this platform. argocd-helper is still built.
   */
  argocdBinary?: string;
  log?: (line: string) => void;
  envVars?: NodeJS.ProcessEnv;
}

/**
 * A stamp of what a binary was built from: the tool's go.mod and go.sum, our own Go sources
 * (the renderer) and the Go version.
 * Equal stamp, same build: a warm machine skips it; any bump (a Renovate PR) rebuilds.
 */
async function buildStamp(tool: GoTool, goVersion: string): Promise<string> {
  const dir = path.join(GO_TOOLS_DIR, tool.module);
  const h = createHash('sha256').update(`${tool.pkg}\0${tool.ldflags ?? ''}\0${goVersion}\0${tool.patches ? JSON.stringify(tool.patches) : ''}\0`);
  for (const f of ['go.mod', 'go.sum']) h.update(await readFile(path.join(dir, f)).catch(() => Buffer.from('')));
  if (tool.sources) {
    const src = path.join(dir, tool.sources);
    for (const f of (await readdir(src)).filter((f) => f.endsWith('.go')).sort()) h.update(`\0${f}\0`).update(await readFile(path.join(src, f)));
  }
  return h.digest('hex');
}

/** Builds one pinned tool from its committed module; go.sum verifies every downloaded module. */
async function buildTool(tool: GoTool, dir: string, env: NodeJS.ProcessEnv, log: (l: string) => void): Promise<void> {
  const version = await pinnedVersion(tool);
  const bin = path.join(dir, tool.name);
  const stampFile = `${bin}.stamp`;
  const goVersion = (await run('go', ['env', 'GOVERSION'], { env }).catch((e) => {
    if (e instanceof ToolMissingError) throw new ToolMissingError('go: not found', `install Go (1.24+) to build the pinned ${tool.name}, or put a ${tool.name} ${version} binary at ${bin}`);
    throw e;
  })).stdout.trim();
  const stamp = await buildStamp(tool, goVersion);
  if (tool.name === 'argocd' && (await releasedArgocdCurrent(bin, version))) {
    log(`${tool.name} ${version}: the released binary installed by --argocd-binary (sha256 verified)`);
    return;
  }
  if ((await isExecutable(bin)) && (await readFile(stampFile, 'utf8').catch(() => '')) === stamp) {
    log(`${tool.name} ${version}: already built`);
    return;
  }
  log(`${tool.name} ${version}: go build ${tool.pkg} (tools/go/${tool.module})`);
  const [major, minor] = version.replace(/^v/, '').split('.');
  const stampFlags = tool.ldflags?.replaceAll('{version}', version).replaceAll('{bare}', version.replace(/^v/, '')).replaceAll('{major}', major).replaceAll('{minor}', minor);
  const ldflags = ['-s', '-w', ...(stampFlags ? [stampFlags] : [])].join(' ');
  const goEnv = { ...env, GOFLAGS: '', GOWORK: 'off' };
  const modfile = tool.patches ? [`-modfile=${await writePatchedModfile(tool, path.join(dir, '..', 'patched', tool.module), goEnv)}`] : [];
  // -mod=readonly: the committed go.mod/go.sum are the pin; a build never rewrites them.
  await run('go', ['build', '-trimpath', '-mod=readonly', ...modfile, `-ldflags=${ldflags}`, '-o', `${bin}.tmp`, tool.pkg], {
    cwd: path.join(GO_TOOLS_DIR, tool.module),
    env: goEnv,
    timeoutMs: 1_800_000,
  });
  await rename(`${bin}.tmp`, bin); // atomic: an interrupted build never leaves a half binary behind
  await writeFile(stampFile, stamp);
}

/**
 * The tool's source patches, as a `go build -modfile` whose one added `replace` points the pinned
 * module at a mirror of itself: the module as `go mod download` fetched and checked it against
 * go.sum (its files hard-linked from the module cache, where `-overlay` may not replace a file), with the
 * patched files written out. An edit whose text is not there exactly once is refused (a version bump
 * moved it: check whether upstream now has a flag).
 */
export async function writePatchedModfile(tool: GoTool, into: string, env: NodeJS.ProcessEnv): Promise<string> {
  const modDir = path.join(GO_TOOLS_DIR, tool.module);
  const { stdout } = await run('go', ['mod', 'download', '-json', tool.versionOf], { cwd: modDir, env });
  const moduleDir = (JSON.parse(stdout) as { Dir?: string }).Dir;
  if (!moduleDir) throw new ConfigError(`tools/go/${tool.module}/go.mod`, `go mod download ${tool.versionOf}: no module folder`);
  const src = path.join(into, 'src');
  await rm(into, { recursive: true, force: true });
  await mirrorTree(moduleDir, src);
  for (const p of tool.patches ?? []) {
    const text = await readFile(path.join(moduleDir, p.file), 'utf8');
    const count = text.split(p.from).length - 1;
    if (count !== 1) throw new ConfigError(`tools/go/${tool.module}/go.mod`, `${tool.name}: the patch for ${p.why} expects \`${p.from}\` once in ${tool.versionOf}/${p.file}, found ${count}; after a version bump, update the patch in lib/core/tools.ts (or drop it if upstream now has a flag)`);
    await rm(path.join(src, p.file));
    await writeFile(path.join(src, p.file), text.replace(p.from, p.to));
  }
  const modfile = path.join(into, 'go.mod');
  await writeFile(modfile, `${await readFile(path.join(modDir, 'go.mod'), 'utf8')}\n// Written by setup: ${tool.name}'s source patches (lib/core/tools.ts).\nreplace ${tool.versionOf} => ${src}\n`);
  await copyFile(path.join(modDir, 'go.sum'), path.join(into, 'go.sum'));
  return modfile;
}

/** Real folders, each file a hard link to the original (a copy across file systems): go:embed refuses symlinks. */
async function mirrorTree(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const e of await readdir(from, { withFileTypes: true })) {
    const [a, b] = [path.join(from, e.name), path.join(to, e.name)];
    if (e.isDirectory()) await mirrorTree(a, b);
    else if (e.isFile()) await link(a, b).catch(() => copyFile(a, b));
  }
}

/** Pinned sha256 of the released argocd binaries (Argo CD's cli_checksums.txt of the pinned version). */
export const ARGOCD_CHECKSUMS = path.join(GO_TOOLS_DIR, 'argocd', 'release-checksums.txt');

/** The release asset name of this platform's binary (argocd-linux-amd64, ...). */
export function argocdAssetName(platform: string = process.platform, arch: string = process.arch): string {
  const a = arch === 'x64' ? 'amd64' : arch;
  return `argocd-${platform}-${a}${platform === 'win32' ? '.exe' : ''}`.replace('win32', 'windows');
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The pinned checksums: the `# version: vX` line and `<sha256>  <asset>` lines (cli_checksums.txt's format). */
export async function readArgocdChecksums(file: string = ARGOCD_CHECKSUMS): Promise<{ version?: string; sums: Map<string, string> }> {
  const text = await readFile(file, 'utf8');
  const sums = new Map<string, string>();
  let version: string | undefined;
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    const v = /^#\s*version:\s*(\S+)\s*$/.exec(line);
    if (v) version = v[1];
    if (!line || line.startsWith('#')) continue;
    const m = /^([0-9a-f]{64})\s+\*?(\S+)$/.exec(line);
    if (!m) throw new ConfigError(path.relative(GO_TOOLS_DIR, file), `line ${i + 1}: expected '<sha256>  <asset name>'`);
    sums.set(m[2]!, m[1]!);
  }
  return { version, sums };
}

/**
 * Installs a released `argocd` binary as .tools/bin/argocd when its sha256 is the one pinned for
 * this platform and the pinned version (go.mod's); anything else is refused and nothing is
 * installed. The stamp records version and checksum, so a later setup keeps it while both hold.
 */
export async function installReleasedArgocd(opts: { binary: string; dir: string; checksums?: string; log?: (l: string) => void; platform?: string; arch?: string }): Promise<void> {
  const tool = GO_TOOLS.find((t) => t.name === 'argocd')!;
  const version = await pinnedVersion(tool);
  const listFile = opts.checksums ?? ARGOCD_CHECKSUMS;
  const shown = path.relative(process.cwd(), listFile) || listFile;
  const { version: listed, sums } = await readArgocdChecksums(listFile);
  if (listed !== version) throw new ConfigError(shown, `the checksums are for ${listed ?? 'no version (no "# version:" line)'}, but tools/go/argocd/go.mod pins Argo CD ${version}: copy the release's cli_checksums.txt of ${version} into it`);
  const asset = argocdAssetName(opts.platform, opts.arch);
  const want = sums.get(asset);
  if (!want) throw new ConfigError(shown, `no checksum pinned for ${asset} ${version}: copy it from https://github.com/argoproj/argo-cd/releases/download/${version}/cli_checksums.txt (the binary is never installed unverified)`);
  const got = await sha256File(opts.binary).catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`--argocd-binary ${opts.binary}: ${e.code === 'ENOENT' ? 'not found' : e.message}`);
  });
  if (got !== want) throw new UsageError(`--argocd-binary ${opts.binary}: sha256 ${got} is not the pinned ${want} of ${asset} ${version} (${shown}); it is not installed`);
  const bin = path.join(opts.dir, tool.name);
  await mkdir(opts.dir, { recursive: true });
  await copyFile(opts.binary, `${bin}.tmp`);
  await chmod(`${bin}.tmp`, 0o755);
  // Checked again after the copy: the file may have changed between the two reads.
  if ((await sha256File(`${bin}.tmp`)) !== want) throw new UsageError(`--argocd-binary ${opts.binary}: changed while it was copied; it is not installed`);
  await rename(`${bin}.tmp`, bin);
  await writeFile(`${bin}.stamp`, releasedStamp(version, want));
  (opts.log ?? (() => {}))(`argocd ${version}: the released ${asset} (sha256 ${want.slice(0, 12)}, pinned in ${shown})`);
}

const releasedStamp = (version: string, sha: string) => `released ${version} ${sha}`;

/** Whether .tools/bin/argocd is a released binary installed by --argocd-binary that still matches its stamp and the pinned version. */
async function releasedArgocdCurrent(bin: string, version: string): Promise<boolean> {
  const stamp = (await readFile(`${bin}.stamp`, 'utf8').catch(() => '')).trim().split(' ');
  if (stamp[0] !== 'released' || stamp[1] !== version || !(await isExecutable(bin))) return false;
  return (await sha256File(bin).catch(() => '')) === stamp[2];
}

/** Debian packages the release-command tests need (pinned to the versions they were written against). */
const TEST_PACKAGES: Array<{ bin: string; pkg: string; version: string }> = [
  { bin: 'docker-registry', pkg: 'docker-registry', version: '2.8.2+ds1-1' },
  { bin: 'skopeo', pkg: 'skopeo', version: '1.9.3+ds1-1+b10' },
  // actionlint runs shellcheck on the workflows' run: scripts (tools/test/workflows.test.ts).
  { bin: 'shellcheck', pkg: 'shellcheck', version: '0.9.0-1' },
  // The promotion board is checked in a real browser, headless (tools/test/board.test.ts).
  { bin: 'chromium', pkg: 'chromium', version: '148.0.7778.167-1~deb12u1' },
];

/** Debian packages the sync rehearsal runs (--rehearse, and the tests): Argo CD's Redis. */
const REHEARSE_PACKAGES: Array<{ bin: string; pkg: string; version: string }> = [
  { bin: 'redis-server', pkg: 'redis-server', version: '5:7.0.15-1~deb12u10' },
];

async function onPath(bin: string): Promise<boolean> {
  const { code } = await run('sh', ['-c', 'command -v "$0"', bin], { allowFailure: true });
  return code === 0;
}

async function installTestPackages(log: (l: string) => void, packages = TEST_PACKAGES): Promise<void> {
  const missing = [];
  for (const p of packages) if (!(await onPath(p.bin))) missing.push(p);
  if (!missing.length) return log(`test packages: ${packages.map((p) => p.pkg).join(', ')} already installed`);
  const cmd = `apt-get install -y ${missing.map((p) => `${p.pkg}=${p.version}`).join(' ')}`;
  if (process.getuid?.() !== 0) throw new ToolMissingError(`missing test packages: ${missing.map((p) => p.pkg).join(', ')}`, `run as root: apt-get update && ${cmd}`);
  log(`test packages: ${cmd}`);
  const env = childEnv({ network: true, set: { DEBIAN_FRONTEND: 'noninteractive' } });
  await run('apt-get', ['update', '-qq'], { env, timeoutMs: 600_000 });
  const pinned = await run('apt-get', ['install', '-y', '-qq', ...missing.map((p) => `${p.pkg}=${p.version}`)], { env, allowFailure: true, timeoutMs: 900_000 });
  if (pinned.code !== 0) {
    // Debian may have replaced the exact build (a security update); the tests need the tools, not the build.
    log(`warning: pinned versions unavailable (${pinned.stderr.trim().split('\n').pop()}); installing the current ones`);
    await run('apt-get', ['install', '-y', '-qq', ...missing.map((p) => p.pkg)], { env, timeoutMs: 900_000 });
  }
}

/**
 * Renovate (tools/renovate: its own package and lock, with the Node 24 it needs from the npm
 * `node` package) for the tests that run it. Skipped while the lock and package.json are unchanged.
 */
async function installRenovate(env: NodeJS.ProcessEnv, log: (l: string) => void): Promise<void> {
  const h = createHash('sha256');
  for (const f of ['package.json', 'package-lock.json']) h.update(await readFile(path.join(RENOVATE_DIR, f)));
  const stamp = h.digest('hex');
  const stampFile = path.join(RENOVATE_DIR, 'node_modules', '.setup-stamp');
  const { renovate, version } = renovatePaths();
  if ((await readFile(stampFile, 'utf8').catch(() => '')) === stamp && (await isExecutable(renovate.node))) {
    log(`renovate ${version}: already installed`);
    return;
  }
  log(`renovate ${version}: npm ci in tools/renovate (takes minutes on a fresh machine)`);
  await run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: RENOVATE_DIR, env, timeoutMs: 1_800_000 });
  const v = (await run(renovate.node, ['--version'], { env })).stdout.trim();
  if (!v.startsWith('v24.')) throw new ToolMissingError(`tools/renovate: the npm node package installed ${v}, Renovate needs Node 24`);
  await writeFile(stampFile, stamp);
}

/**
 * Whether the repository needs helm (then it is built too): some cluster's argocd-cm asks
 * kustomize for --enable-helm, or the repository holds a chart (Chart.yaml) that an Application
 * may render.
 */
async function helmEnabled(cwd: string): Promise<boolean> {
  const charts = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ':(glob)**/Chart.yaml'], { cwd, allowFailure: true }).catch(() => undefined);
  if (charts?.code === 0 && charts.stdout.length) return true;
  const clusters = await readdir(path.join(cwd, 'clusters'), { withFileTypes: true }).catch(() => []);
  for (const c of clusters.filter((e) => e.isDirectory())) {
    const text = await readFile(path.join(cwd, 'clusters', c.name, 'argocd-cm.yaml'), 'utf8').catch(() => '');
    if (/kustomize\.buildOptions[^\n]*--enable-helm/.test(text)) return true;
  }
  return false;
}

/** Builds the pinned Go tools (tools/go/*) into .tools/bin. Idempotent. */
export async function setup(opts: SetupOptions): Promise<void> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const from = opts.envVars ?? process.env;
  const dir = toolsDir(from);
  // go needs its own settings (GOPATH, GOPROXY, GOCACHE, ...) and the network; never a token.
  const env = childEnv({ network: true, keep: Object.keys(from).filter((k) => /^(GO|CGO_)/.test(k)) }, from);
  await mkdir(dir, { recursive: true });
  // The tests render Helm Applications: --test-deps builds helm too.
  const helm = opts.helm || opts.testDeps || (await helmEnabled(opts.cwd));
  if (opts.argocdBinary) await installReleasedArgocd({ binary: opts.argocdBinary, dir, log });
  for (const tool of GO_TOOLS) {
    if (tool.optional === 'helm' && !helm) continue;
    if (tool.optional === 'rehearse' && !(opts.rehearse || opts.testDeps)) continue;
    await buildTool(tool, dir, env, log);
  }
  // npm needs its own settings (registry, cache, CA) and the network; never a token.
  await installRenovate(childEnv({ network: true, keep: Object.keys(from).filter((k) => /^(npm_config_|NPM_CONFIG_|NODE_EXTRA_CA_CERTS$)/.test(k)) }, from), log);
  if (opts.testDeps) await installTestPackages(log, [...TEST_PACKAGES, ...REHEARSE_PACKAGES]);
  else if (opts.rehearse) await installTestPackages(log, REHEARSE_PACKAGES);
}
