// npm run status: every app by environment, the images as kustomize renders them (name, tag, digest)
// and the file that sets each one, what waits to be promoted from each source, which environments
// differ. Reads the checkout in --cwd; no network.
import { discoverApps } from '../lib/config/apps.js';
import { loadConfig } from '../lib/config/config.js';
import { FindingsError } from '../lib/core/errors.js';
import type { FormatOf } from '../lib/core/formats.js';
import { sameRelease, shortDigest, type Pin } from '../lib/render/images.js';
import type { ImageOrigin } from '../lib/render/imagesource.js';
import { appKey, imageStates, renderAppImages, type ImageState } from '../lib/release/releasestate.js';
import { findKustomize } from '../lib/core/tools.js';

export interface StatusOptions {
  cwd: string;
  format?: FormatOf<'status'>;
  write?: (text: string) => void;
  envVars?: NodeJS.ProcessEnv;
}

export interface SetBy {
  file: string;
  line?: number;
  /** `images` (an images: entry), `patch`, or `resource` (the image as written in the manifest). */
  kind: ImageOrigin['kind'];
  /** Whether that file is the overlay's own kustomization. */
  overlay: boolean;
}

export interface PinView {
  /** Image name as rendered (after any newName). */
  name: string;
  tag?: string;
  digest?: string;
  /** 12 hex characters of the digest. */
  short?: string;
  /** The file that sets the tag/digest; absent when it cannot be told (see `unknown`). */
  setBy?: SetBy;
  /** The file that sets the name, when another one than setBy (an images entry with newName). */
  nameSetBy?: SetBy;
  unknown?: string;
  /** The app's containers with this image render different references (see containers). */
  mixed?: boolean;
  /** Every container that runs the image: object, container name, the rendered reference, and its origin. */
  containers: Array<{ object: string; container: string; image: string; setBy?: SetBy; unknown?: string }>;
}

export interface AppStatus {
  id: string;
  /** Environments that have an overlay for the app. */
  deployedTo: string[];
  /** Overlay folder per environment. */
  overlays: Record<string, string>;
  /** image (the name the base writes) -> environment -> rendered image (null: not rendered there). */
  images: Record<string, Record<string, PinView | null>>;
  /** Per promotion source: the images whose rendered pins differ from the target's. */
  pending: Array<{ from: string; to: string; images: string[] }>;
  /** Whether the environments that run the app run different pins. */
  differs: boolean;
  /** Environment -> why the app could not be rendered there. */
  errors?: Record<string, string>;
}

export interface StatusReport {
  environments: Array<{ name: string; promotesFrom: string[]; requireDigests: boolean }>;
  apps: AppStatus[];
  pending: Array<{ app: string; from: string; to: string; images: string[] }>;
  /** Pairs of environments and the apps (deployed to both) whose rendered images differ. */
  differences: Array<{ envs: [string, string]; apps: string[] }>;
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
export async function collectStatus(cwd: string, envVars: NodeJS.ProcessEnv = process.env): Promise<StatusReport> {
  const config = await loadConfig(cwd, envVars);
  const apps = await discoverApps(config);
  const envs = config.environments;
  const rendered = await renderAppImages(config, await findKustomize(envVars), apps);
  const byId = new Map<string, AppStatus>();
  for (const a of apps) {
    const r = rendered.get(appKey(a))!;
    const st = byId.get(a.id) ?? { id: a.id, deployedTo: [], overlays: {}, images: {}, pending: [], differs: false };
    byId.set(a.id, st);
    st.deployedTo.push(a.env.name);
    st.overlays[a.env.name] = a.dir;
    if (r.error) (st.errors ??= {})[a.env.name] = r.error;
    for (const [key, s] of imageStates(r)) (st.images[key] ??= {})[a.env.name] = view(s, r.overlayFile);
  }
  const pending: StatusReport['pending'] = [];
  for (const st of byId.values()) {
    // Every deployed environment gets a cell per image (null: that environment does not render it).
    const sorted: AppStatus['images'] = {};
    for (const key of Object.keys(st.images).sort()) {
      sorted[key] = {};
      for (const env of envs) if (st.deployedTo.includes(env.name)) sorted[key]![env.name] = st.images[key]![env.name] ?? null;
    }
    st.images = sorted;
    const keys = Object.keys(st.images);
    const differ = (a: string, b: string) => keys.filter((k) => !sameRelease(pinOf(st.images[k]![a]), pinOf(st.images[k]![b])));
    for (const env of envs) {
      if (!st.deployedTo.includes(env.name)) continue;
      for (const from of env.promotesFrom) {
        if (!st.deployedTo.includes(from)) continue;
        // Only what the source renders, pinned, can be promoted (and only into an image the target runs).
        const imgs = differ(from, env.name).filter((k) => {
          const s = st.images[k]![from];
          return s && (s.tag || s.digest) && st.images[k]![env.name];
        });
        if (imgs.length) {
          st.pending.push({ from, to: env.name, images: imgs });
          pending.push({ app: st.id, from, to: env.name, images: imgs });
        }
      }
    }
    const d = st.deployedTo;
    st.differs = d.some((a, i) => d.slice(i + 1).some((b) => differ(a, b).length > 0));
  }
  const differences: StatusReport['differences'] = [];
  for (const [i, a] of envs.entries()) {
    for (const b of envs.slice(i + 1)) {
      const list = [...byId.values()]
        .filter((st) => st.deployedTo.includes(a.name) && st.deployedTo.includes(b.name))
        .filter((st) => Object.values(st.images).some((per) => !sameRelease(pinOf(per[a.name]), pinOf(per[b.name]))))
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

/** A kustomize error on one line, short enough for a table footnote. */
function oneLine(msg: string): string {
  const s = msg.replace(/\s+/g, ' ').trim();
  return s.length > 400 ? `${s.slice(0, 397)}...` : s;
}

export function formatStatusText(r: StatusReport): string {
  const envNames = r.environments.map((e) => e.name);
  const rows: string[][] = [['APP', 'IMAGE', ...envNames, 'STATUS']];
  const notes: string[] = [];
  for (const a of r.apps) {
    const status = [
      ...a.pending.map((p) => `${p.from} -> ${p.to} waiting`),
      ...(a.pending.length === 0 && a.differs ? ['differs'] : []),
      ...(a.deployedTo.length < envNames.length ? [`only ${a.deployedTo.join(', ')}`] : []),
      ...Object.keys(a.errors ?? {}).map((e) => `${e}: render failed`),
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
    for (const [e, msg] of Object.entries(a.errors ?? {})) notes.push(`  ${a.id} ${e}: ${oneLine(msg)}`);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const lines = rows.map((row) => row.map((v, c) => (c === row.length - 1 ? v : v.padEnd(widths[c]!))).join('  ').trimEnd());
  lines.push('');
  lines.push('Images as rendered; each is set by the overlay\'s images: entry unless marked * and listed here:');
  lines.push(...(notes.length ? notes : ['  (none)']));
  lines.push('');
  lines.push(r.pending.length ? `waiting to be promoted: ${r.pending.map((p) => `${p.app} (${p.from} -> ${p.to})`).join(', ')}` : 'nothing waiting to be promoted');
  for (const d of r.differences) lines.push(`${d.envs[0]} vs ${d.envs[1]}: ${d.apps.length ? `${d.apps.length} app${d.apps.length === 1 ? '' : 's'} differ (${d.apps.join(', ')})` : 'same images for every app deployed to both'}`);
  return lines.join('\n');
}

export async function status(opts: StatusOptions): Promise<StatusReport> {
  const report = await collectStatus(opts.cwd, opts.envVars ?? process.env);
  const write = opts.write ?? ((t: string) => process.stdout.write(`${t}\n`));
  write(opts.format === 'json' ? JSON.stringify(report, null, 2) : formatStatusText(report));
  const failed = report.apps.flatMap((a) => Object.entries(a.errors ?? {}).map(([e, msg]) => `${a.id} in ${e}: ${oneLine(msg)}`));
  if (failed.length) throw new FindingsError(`status is incomplete: ${failed.length} overlay${failed.length === 1 ? '' : 's'} did not render\n  ${failed.join('\n  ')}`);
  return report;
}

