// npm run status: every app by environment, the images as kustomize renders them (name, tag, digest)
// and the file that sets each one, what waits to be promoted from each source, which environments
// differ, and in which direction (semver, else the registry's build time of each digest). Reads the
// checkout in --cwd; the network only for build times (--no-registry: none).
import { appInventory } from '../lib/argocd/applications.js';
import { renderInventoryApps, REPO_SERVER_KINDS } from '../lib/argocd/clusterapps.js';
import { repoTree } from '../lib/argocd/argocd.js';
import { tracePlainImages, untracedImages } from '../lib/render/imagesource.js';
import { getEnvironment, loadConfig } from '../lib/config/config.js';
import { kubeconfigArg, readAppHealth } from '../lib/release/health.js';
import { FindingsError, UsageError } from '../lib/core/errors.js';
import type { FormatOf } from '../lib/core/formats.js';
import { sameRelease, shortDigest, type Pin } from '../lib/render/images.js';
import type { ImageOrigin } from '../lib/render/imagesource.js';
import { appKey, imageStates, renderAppImages, type ImageState } from '../lib/release/releasestate.js';
import { findKustomize } from '../lib/core/tools.js';
import { compareReleases, compareVersions, registryCreated, type CreatedLookup } from '../lib/release/order.js';
import { helmApps, releaseInventory, valuesHash } from '../lib/release/helm.js';
import { promotionSources } from './promote.js';
import { createHash } from 'node:crypto';
import { readReleaseFile } from '../lib/config/releasefiles.js';
import { formatBoardHtml, type BoardOptions, type BoardPull } from '../lib/report/board.js';
import { Git, parseRemoteUrl, scrub } from '../lib/remote/git.js';
import { GitHub, tokenApiUrl } from '../lib/remote/github.js';
import { networkTimeoutMs } from '../lib/remote/network.js';
import path from 'node:path';
import type { AppStatus, FileView, PinView, Relation, RelationItem, SetBy, StatusReport } from '../lib/report/status.js';


export interface StatusOptions {
  cwd: string;
  format?: FormatOf<'status'>;
  /** html: the time printed on the board (tests fix it). */
  now?: Date;
  /** html: Argo CD's sync and health per app and environment, when known. */
  health?: BoardOptions['health'];
  /** html: `ENV=FILE[:CONTEXT],...`: read each listed environment's Argo CD Applications (GET only) for the board's health. */
  kubeconfig?: string;
  write?: (text: string) => void;
  envVars?: NodeJS.ProcessEnv;
  /** false: never ask a registry for build times (--no-registry); differing non-semver pins then show as `differs`. */
  registry?: boolean;
}

export interface CollectOptions {
  /** Build times of digests (default: the registry, each digest once); false: never look up. */
  lookup?: CreatedLookup | false;
}

function setBy(o: ImageOrigin | undefined, overlayFile: string): SetBy | undefined {
  return o ? { file: o.file, ...(o.line ? { line: o.line } : {}), kind: o.kind, overlay: o.file === overlayFile } : undefined;
}

function view(s: ImageState, overlayFile: string): PinView {
  const c = s.containers[0]!;
  const pin = s.pin;
  const v: PinView = {
    name: s.name,
    ...(pin.tag ? { tag: pin.tag } : {}),
    ...(pin.digest ? { digest: pin.digest, short: shortDigest(pin.digest) } : {}),
    containers: s.containers.map((x) => ({ object: x.object, container: x.container, image: x.image, ...(x.pinFrom ? { setBy: setBy(x.pinFrom, overlayFile)! } : {}), ...(x.unknown ? { unknown: x.unknown } : {}) })),
  };
  const by = setBy(c.pinFrom, overlayFile);
  if (by) v.setBy = by;
  const nameBy = setBy(c.nameFrom, overlayFile);
  if (nameBy && (nameBy.file !== by?.file || nameBy.line !== by?.line)) v.nameSetBy = nameBy;
  const unknown = s.containers.find((x) => x.unknown)?.unknown;
  if (unknown) {
    delete v.setBy;
    delete v.nameSetBy;
    v.unknown = unknown;
  }
  if (s.mixed) v.mixed = true;
  // Containers last: the summary reads first in the JSON.
  const { containers, ...rest } = v;
  return { ...rest, containers };
}

const pinOf = (v: PinView | null | undefined): Pin | undefined => (v ? { tag: v.tag, digest: v.digest } : undefined);

function cell(p: PinView | null | undefined, deployed: boolean): string {
  if (!deployed) return '-';
  if (!p) return '(not rendered)';
  const pin = `${p.tag ?? ''}${p.short ? ` @${p.short}` : ''}`.trim() || '(untagged)';
  return `${pin}${p.mixed ? ' (mixed)' : ''}${p.setBy && !(p.setBy.kind === 'images' && p.setBy.overlay) ? ' *' : ''}`;
}

/** Builds the status model from the render of every overlay of the checkout. */
export async function collectStatus(cwd: string, envVars: NodeJS.ProcessEnv = process.env, opts: CollectOptions = {}): Promise<StatusReport> {
  const config = await loadConfig(cwd, envVars);
  const tool = await findKustomize(envVars);
  // The inventory validate reads: overlays plus every Application mapped to an environment.
  const inventory = await appInventory(config, tool, { rendersAlso: [...REPO_SERVER_KINDS] });
  const apps = inventory.overlays;
  const envs = config.environments;
  const rendered = await renderAppImages(config, tool, apps);
  const byId = new Map<string, AppStatus>();
  const statusOf = (id: string): AppStatus => {
    const st: AppStatus = byId.get(id) ?? { id, deployedTo: [], overlays: {}, images: {}, files: {}, relations: [], pending: [], differs: false };
    byId.set(id, st);
    return st;
  };
  for (const u of inventory.uncovered) {
    const st = statusOf(u.id!);
    if (!st.deployedTo.includes(u.env!.name)) st.deployedTo.push(u.env!.name);
    (st.notRendered ??= {})[u.env!.name] = `Application ${u.name}: ${u.reason}`;
  }
  // Helm, plain, jsonnet, overridden and multi-source Applications: their images as Argo CD's
  // repo-server code renders them (an overlay that Argo CD renders otherwise keeps its overlay's row).
  // Files are read through the tree: nothing outside the repository (no symlink out).
  const tree = await repoTree(config.root);
  for (const { item, rendered: r } of (await renderInventoryApps(config, tool, inventory, { tree, env: envVars })).renders) {
    if (item.overlay) continue;
    const env = item.env!.name;
    const st = statusOf(item.id!);
    if (!st.deployedTo.includes(env)) st.deployedTo.push(env);
    (st.applications ??= {})[env] = { name: item.name, source: item.source ?? '?', path: item.generated.path ?? '' };
    const err = r.findings.find((f) => f.severity === 'error');
    if (err) (st.errors ??= {})[env] = `${err.file ?? r.target.dir}${err.line ? `:${err.line}` : ''}: ${err.message}`;
    else if (!r.objects.length) (st.notRendered ??= {})[env] = r.findings.map((f) => f.message).join('; ') || `Application ${item.name} renders no object`;
    const why = `rendered by Argo CD's repo-server code (${item.source}, Application ${item.name}): the file that sets it is not traced`;
    const containers = untracedImages(r.objects, why);
    // A plain directory's objects are documents of its files: the file and line that write each image.
    if (item.source === 'directory') await tracePlainImages(containers, r.closure, tree.read);
    for (const [key, s] of imageStates({ app: r.target.app!, overlayFile: '', containers })) (st.images[key] ??= {})[env] = view(s, '');
  }
  // Helm apps: chart versions and released values files.
  for (const h of helmApps(config, inventory)) {
    // A chart from a chart repository is not rendered offline: the app still has its row.
    const st = statusOf(h.id);
    if (!st.deployedTo.includes(h.env.name)) st.deployedTo.push(h.env.name);
    if (h.chart && config.releaseHelm.chart) ((st.charts ??= {})[h.chart.name] ??= {})[h.env.name] = { version: h.chart.version, repoURL: h.chart.repoURL, application: h.name, ...(h.file ? { file: h.file } : {}) };
    if (config.releaseHelm.valueFiles.length) {
      const v = await valuesHash(config.root, h);
      (st.values ??= {})[h.env.name] = v ? { files: v.files, sha256: v.sha256, short: v.sha256.slice(0, 12) } : null;
    }
  }
  for (const a of apps) {
    const r = rendered.get(appKey(a))!;
    const st = statusOf(a.id);
    st.deployedTo.push(a.env.name);
    st.overlays[a.env.name] = a.dir;
    if (r.error) (st.errors ??= {})[a.env.name] = r.error;
    for (const [key, s] of imageStates(r)) (st.images[key] ??= {})[a.env.name] = view(s, r.overlayFile);
  }
  const lookup = opts.lookup === undefined ? registryCreated({ envVars }) : opts.lookup || undefined;
  const pending: StatusReport['pending'] = [];
  for (const st of byId.values()) {
    // Every deployed environment gets a cell per image (null: that environment does not render it).
    const sorted: AppStatus['images'] = {};
    for (const key of Object.keys(st.images).sort()) {
      sorted[key] = {};
      for (const env of envs) if (st.deployedTo.includes(env.name)) sorted[key]![env.name] = st.images[key]![env.name] ?? null;
    }
    st.images = sorted;
    for (const per of Object.values(st.charts ?? {})) for (const env of st.deployedTo) per[env] ??= null;
    if (config.releaseFiles.length && Object.keys(st.overlays).length) {
      for (const f of config.releaseFiles) {
        st.files[f] = {};
        for (const env of envs) {
          // Release files live in overlay folders (an Application without one has none).
          if (!st.deployedTo.includes(env.name) || st.overlays[env.name] === undefined) continue;
          let bytes: Buffer | undefined;
          try {
            bytes = await readReleaseFile(config.root, st.overlays[env.name]!, f);
          } catch (e) {
            (st.errors ??= {})[env.name] = (e as Error).message;
          }
          st.files[f]![env.name] = bytes === undefined ? null : fileView(bytes, `${st.overlays[env.name]}/${f}`);
        }
      }
    }
    for (const env of envs) {
      if (!st.deployedTo.includes(env.name)) continue;
      for (const from of promotionSources(config, env)) {
        if (!st.deployedTo.includes(from)) continue;
        const direct = env.promotesFrom.includes(from);
        const items = await relate(st, from, env.name, lookup);
        const state = pairState(items);
        if (!state) continue;
        // A source further up the path is reported only when the target lags it (prod behind dev through staging).
        if (!direct) {
          if (state === 'waiting' && !st.pending.some((x) => x.to === env.name)) st.relations.push({ from, to: env.name, state: 'behind', direct, items });
          continue;
        }
        st.relations.push({ from, to: env.name, state, direct, items });
        if (state === 'waiting') {
          // Only what the source renders, pinned, can be promoted (and only into an image the target runs).
          const imgs = items.filter((x) => x.kind === 'image' && x.relation !== 'same').map((x) => x.name);
          st.pending.push({ from, to: env.name, images: imgs });
          pending.push({ app: st.id, from, to: env.name, images: imgs });
        }
      }
    }
    const d = st.deployedTo;
    st.differs = d.some((a, i) => d.slice(i + 1).some((b) => differing(st, a, b).length > 0));
  }
  const differences: StatusReport['differences'] = [];
  for (const [i, a] of envs.entries()) {
    for (const b of envs.slice(i + 1)) {
      const list = [...byId.values()]
        .filter((st) => st.deployedTo.includes(a.name) && st.deployedTo.includes(b.name))
        .filter((st) => differing(st, a.name, b.name).length > 0)
        .map((st) => st.id);
      differences.push({ envs: [a.name, b.name], apps: list });
    }
  }
  return {
    environments: envs.map((e) => ({ name: e.name, promotesFrom: e.promotesFrom, requireDigests: e.requireDigests })),
    apps: [...byId.values()].sort((a, b) => a.id.localeCompare(b.id)),
    pending,
    differences,
  };
}

function fileView(bytes: Buffer, file: string): FileView {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { file, sha256, short: sha256.slice(0, 12) };
}

/** Names of the release parts (images, files) that differ between two environments of an app. */
function differing(st: AppStatus, a: string, b: string): string[] {
  return [
    ...Object.entries(st.images).filter(([, per]) => !sameRelease(pinOf(per[a]), pinOf(per[b]))).map(([k]) => k),
    ...Object.entries(st.files).filter(([, per]) => (per[a]?.sha256 ?? null) !== (per[b]?.sha256 ?? null)).map(([k]) => k),
    ...Object.entries(st.charts ?? {}).filter(([, per]) => (per[a]?.version ?? null) !== (per[b]?.version ?? null)).map(([k]) => `chart ${k}`),
    ...(st.values && (st.values[a]?.sha256 ?? null) !== (st.values[b]?.sha256 ?? null) ? ['values'] : []),
  ];
}

/** Each release part of `from` set against `to`: images ordered (semver, then build time), files equal or not. */
async function relate(st: AppStatus, from: string, to: string, lookup: CreatedLookup | undefined): Promise<RelationItem[]> {
  const items: RelationItem[] = [];
  for (const [key, per] of Object.entries(st.images)) {
    const s = per[from];
    const t = per[to];
    // Only what the source renders, pinned, can be promoted, and only into an image the target runs.
    if (!s || !(s.tag || s.digest) || !t) continue;
    const o = await compareReleases(s.name, pinOf(s), pinOf(t), lookup);
    items.push({ kind: 'image', name: key, from: pinText(s), to: pinText(t), relation: o.relation, ...(o.by ? { by: o.by } : {}), ...(o.why ? { why: o.why } : {}) });
  }
  for (const [chart, per] of Object.entries(st.charts ?? {})) {
    const s = per[from];
    const t = per[to];
    if (!s || !t) continue;
    const o = compareVersions(s.version, t.version);
    items.push({ kind: 'chart', name: chart, from: s.version, to: t.version, relation: o.relation, ...(o.by ? { by: o.by } : {}), ...(o.why ? { why: o.why } : {}) });
  }
  if (st.values?.[from]) {
    const s = st.values[from]!;
    const t = st.values[to];
    items.push({ kind: 'values', name: 'values', from: s.short, to: t?.short ?? '(none)', relation: s.sha256 === t?.sha256 ? 'same' : 'unordered', ...(s.sha256 === t?.sha256 ? {} : { why: 'values files are not versioned' }) });
  }
  for (const [file, per] of Object.entries(st.files)) {
    const s = per[from];
    const t = per[to];
    if (!s) continue;
    items.push({ kind: 'file', name: file, from: s.short, to: t?.short ?? '(none)', relation: s.sha256 === t?.sha256 ? 'same' : 'unordered', ...(s.sha256 === t?.sha256 ? {} : { why: 'release files are not versioned' }) });
  }
  return items;
}

/**
 * The state of a promotion pair: waiting when something is newer in the source and nothing older
 * (unordered parts travel with it); ahead when something is older in the source and nothing newer;
 * differs otherwise; undefined when nothing differs.
 */
function pairState(items: RelationItem[]): 'waiting' | 'ahead' | 'differs' | undefined {
  const changed = items.filter((x) => x.relation !== 'same');
  if (!changed.length) return undefined;
  const newer = changed.some((x) => x.relation === 'newer');
  const older = changed.some((x) => x.relation === 'older');
  if (newer && !older) return 'waiting';
  if (older && !newer) return 'ahead';
  return 'differs';
}

const pinText = (p: PinView): string => `${p.tag ?? ''}${p.digest ? `@sha256:${p.short}` : ''}` || '(untagged)';

/** A kustomize error on one line, short enough for a table footnote. */
function oneLine(msg: string): string {
  const s = msg.replace(/\s+/g, ' ').trim();
  return s.length > 400 ? `${s.slice(0, 397)}...` : s;
}

/** A promotion pair's state in words: `dev -> prod waiting`, `prod ahead of dev`, `prod behind dev`, `dev -> prod differs`. */
export function relationText(r: Pick<Relation, 'from' | 'to' | 'state'>): string {
  if (r.state === 'ahead') return `${r.to} ahead of ${r.from}`;
  if (r.state === 'behind') return `${r.to} behind ${r.from}`;
  return `${r.from} -> ${r.to} ${r.state}`;
}

export function formatStatusText(r: StatusReport): string {
  const envNames = r.environments.map((e) => e.name);
  const rows: string[][] = [['APP', 'IMAGE', ...envNames, 'STATUS']];
  const notes: string[] = [];
  const orderNotes: string[] = [];
  for (const a of r.apps) {
    const status = [
      ...a.relations.map(relationText),
      ...(a.relations.length === 0 && a.differs ? ['differs'] : []),
      ...(a.deployedTo.length < envNames.length ? [`only ${a.deployedTo.join(', ')}`] : []),
      ...Object.keys(a.errors ?? {}).map((e) => `${e}: render failed`),
      ...Object.keys(a.notRendered ?? {}).map((e) => `${e}: not rendered`),
    ].join('; ') || 'in sync';
    const images = Object.keys(a.images);
    if (!images.length) rows.push([a.id, '(no images)', ...envNames.map((e) => (a.deployedTo.includes(e) ? '' : '-')), status]);
    images.forEach((img, i) => {
      rows.push([i === 0 ? a.id : '', img.split('/').pop()!, ...envNames.map((e) => cell(a.images[img]![e], a.deployedTo.includes(e))), i === 0 ? status : '']);
      for (const e of envNames) {
        const v = a.images[img]![e];
        if (!v) continue;
        const where = (s: SetBy) => `${s.file}${s.line ? `:${s.line}` : ''}`;
        const what = (s: SetBy) => (s.kind === 'images' ? 'images:' : s.kind === 'patch' ? 'patch' : 'resource');
        if (v.mixed) {
          for (const c of v.containers) notes.push(`  ${a.id} ${e} ${img.split('/').pop()}: ${c.object} ${c.container} runs ${c.image}${c.setBy ? `, set by ${what(c.setBy)} ${where(c.setBy)}` : ''}`);
          continue;
        }
        if (v.unknown) notes.push(`  ${a.id} ${e} ${img.split('/').pop()}: origin unknown: ${v.unknown}`);
        else if (v.setBy && !(v.setBy.kind === 'images' && v.setBy.overlay)) notes.push(`  ${a.id} ${e} ${img.split('/').pop()}: ${v.name}${v.tag ? `:${v.tag}` : ''}${v.short ? `@sha256:${v.short}` : ''} set by ${what(v.setBy)} ${where(v.setBy)}`);
      }
    });
    for (const [f, per] of Object.entries(a.files)) {
      rows.push(['', `file ${f}`, ...envNames.map((e) => (!a.deployedTo.includes(e) ? '-' : per[e] ? per[e]!.short : '(none)')), '']);
    }
    for (const [c, per] of Object.entries(a.charts ?? {})) {
      rows.push(['', `chart ${c}`, ...envNames.map((e) => (!a.deployedTo.includes(e) ? '-' : per[e]?.version ?? '(none)')), '']);
    }
    if (a.values) rows.push(['', 'helm values', ...envNames.map((e) => (!a.deployedTo.includes(e) ? '-' : a.values![e]?.short ?? '(none)')), '']);
    for (const rel of a.relations) {
      for (const it of rel.items) {
        if (it.relation === 'same' || (rel.state === 'waiting' && it.relation === 'newer')) continue;
        const what = it.kind === 'values' ? 'helm values' : `${it.kind === 'file' || it.kind === 'chart' ? `${it.kind} ` : ''}${it.name.split('/').pop()}`;
        const how = it.relation === 'newer' ? `is newer in ${rel.from}` : it.relation === 'older' ? `is older in ${rel.from} (${rel.to} is ahead; promote would downgrade)` : 'cannot be ordered';
        orderNotes.push(`  ${a.id} ${rel.from} -> ${rel.to} ${what}: ${it.from} vs ${it.to} ${how}${it.by === 'semver' ? ' by semantic version' : it.by === 'created' ? ` by registry build time (${it.why})` : it.why ? ` (${it.why})` : ''}`);
      }
    }
    for (const [e, msg] of Object.entries(a.errors ?? {})) notes.push(`  ${a.id} ${e}: ${oneLine(msg)}`);
    for (const [e, msg] of Object.entries(a.notRendered ?? {})) notes.push(`  ${a.id} ${e}: not rendered: ${oneLine(msg)}`);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const lines = rows.map((row) => row.map((v, c) => (c === row.length - 1 ? v : v.padEnd(widths[c]!))).join('  ').trimEnd());
  lines.push('');
  lines.push('Images as rendered; each is set by the overlay\'s images: entry unless marked * and listed here:');
  lines.push(...(notes.length ? notes : ['  (none)']));
  lines.push('');
  if (orderNotes.length) lines.push('Order of what differs (semver where tags are semver, else the registry build time of the digest):', ...orderNotes, '');
  lines.push(r.pending.length ? `waiting to be promoted: ${r.pending.map((p) => `${p.app} (${p.from} -> ${p.to})`).join(', ')}` : 'nothing waiting to be promoted');
  for (const d of r.differences) lines.push(`${d.envs[0]} vs ${d.envs[1]}: ${d.apps.length ? `${d.apps.length} app${d.apps.length === 1 ? '' : 's'} differ (${d.apps.join(', ')})` : 'same images for every app deployed to both'}`);
  return lines.join('\n');
}

/** The open pull requests the release commands opened (their marker says kind, env and app). */
async function releasePulls(cwd: string, envVars: NodeJS.ProcessEnv): Promise<{ pulls?: BoardPull[]; pullsError?: string }> {
  const token = envVars.GITHUB_TOKEN || envVars.GH_TOKEN;
  if (!token) return {};
  try {
    const config = await loadConfig(cwd, envVars);
    const remote = parseRemoteUrl(await new Git(config.root, { envVars }).remoteUrl('origin'));
    const gh = new GitHub({ baseUrl: tokenApiUrl(envVars, config.githubApiUrl), token, owner: remote.owner, repo: remote.repo, timeoutMs: networkTimeoutMs(envVars, 30_000) });
    const pulls: BoardPull[] = [];
    for (const p of await gh.listOpenPulls()) {
      const lines = (p.body ?? '').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
      const m = /^<!-- gitops-release kind=(\S+) env=(\S+) app=(\S+) -->$/.exec(lines[lines.length - 1] ?? '');
      if (m) pulls.push({ number: p.number, url: p.url, title: p.title, kind: m[1], env: m[2], app: m[3] });
    }
    return { pulls: pulls.sort((a, b) => a.number - b.number) };
  } catch (e) {
    return { pullsError: scrub((e as Error).message, [token]).split('\n')[0] };
  }
}

/** Health of every app of the environments `ENV=FILE[:CONTEXT],...` names; a failure is shown per app, never fatal. */
async function readHealth(cwd: string, spec: string, envVars: NodeJS.ProcessEnv): Promise<BoardOptions['health']> {
  const config = await loadConfig(cwd, envVars);
  const out: NonNullable<BoardOptions['health']> = {};
  // Helm apps too: their Argo CD Application is their own (lib/release/helm.ts).
  const apps = (await releaseInventory(config, await findKustomize(envVars))).apps;
  for (const part of spec.split(',').map((x) => x.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`--kubeconfig ${part}: use ENV=FILE[:CONTEXT] (several joined with commas)`);
    const env = getEnvironment(config, part.slice(0, eq)).name;
    const kc = kubeconfigArg(part.slice(eq + 1), envVars);
    for (const a of apps.filter((x) => x.env.name === env)) {
      try {
        const h = await readAppHealth(a, kc);
        (out[a.id] ??= {})[env] = { ...(h.sync ? { sync: h.sync } : {}), ...(h.health ? { health: h.health } : {}), ...(h.revision ? { revision: h.revision } : {}) };
      } catch (e) {
        (out[a.id] ??= {})[env] = { error: (e as Error).message.split('\n')[0] };
      }
    }
  }
  return out;
}

export async function status(opts: StatusOptions): Promise<StatusReport> {
  const envVars = opts.envVars ?? process.env;
  const report = await collectStatus(opts.cwd, envVars, { lookup: opts.registry === false ? false : undefined });
  const write = opts.write ?? ((t: string) => process.stdout.write(`${t}\n`));
  if (opts.format === 'html') {
    const revision = await new Git(path.resolve(opts.cwd), { envVars }).revParse('HEAD').catch(() => undefined);
    const health = opts.health ?? (opts.kubeconfig ? await readHealth(opts.cwd, opts.kubeconfig, envVars) : undefined);
    write(formatBoardHtml(report, { generatedAt: (opts.now ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z'), revision, health, ...(await releasePulls(opts.cwd, envVars)) }));
  } else write(opts.format === 'json' ? JSON.stringify(report, null, 2) : formatStatusText(report));
  const failed = report.apps.flatMap((a) => Object.entries(a.errors ?? {}).map(([e, msg]) => `${a.id} in ${e}: ${oneLine(msg)}`));
  if (failed.length) throw new FindingsError(`status is incomplete: ${failed.length} overlay${failed.length === 1 ? '' : 's'} did not render\n  ${failed.join('\n  ')}`);
  return report;
}

