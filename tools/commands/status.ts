// npm run status: every app by environment (tag and short digest), what waits to be promoted, which
// environments differ. Reads the checkout in --cwd; no network.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { discoverApps } from '../lib/apps.js';
import { loadConfig } from '../lib/config.js';
import { ConfigError } from '../lib/errors.js';
import { parseKustomization, readImageEntries, sameRelease, shortDigest, type Pin } from '../lib/images.js';

export interface StatusOptions {
  cwd: string;
  format?: 'text' | 'json';
  write?: (text: string) => void;
  envVars?: NodeJS.ProcessEnv;
}

export interface PinView {
  tag?: string;
  digest?: string;
  /** 12 hex characters of the digest. */
  short?: string;
}

export interface AppStatus {
  id: string;
  /** Environments that have an overlay for the app. */
  deployedTo: string[];
  /** image name -> environment -> pin (null: the overlay does not pin that image). */
  images: Record<string, Record<string, PinView | null>>;
  /** Promotion steps whose source pins differ from the target's. */
  pending: Array<{ from: string; to: string; images: string[] }>;
  /** Whether the environments that run the app run different pins. */
  differs: boolean;
}

export interface StatusReport {
  environments: Array<{ name: string; promotesFrom?: string; requireDigests: boolean }>;
  apps: AppStatus[];
  pending: Array<{ app: string; from: string; to: string; images: string[] }>;
  /** Pairs of environments and the apps (deployed to both) whose pins differ. */
  differences: Array<{ envs: [string, string]; apps: string[] }>;
}

function view(pin: Pin): PinView {
  return { ...(pin.tag ? { tag: pin.tag } : {}), ...(pin.digest ? { digest: pin.digest, short: shortDigest(pin.digest) } : {}) };
}

function cell(p: PinView | null | undefined, deployed: boolean): string {
  if (!deployed) return '-';
  if (!p) return '(base)';
  return `${p.tag ?? ''}${p.short ? ` @${p.short}` : ''}`.trim();
}

/** Builds the status model from the overlays of the checkout. */
export async function collectStatus(cwd: string, envVars: NodeJS.ProcessEnv = process.env): Promise<StatusReport> {
  const config = await loadConfig(cwd, envVars);
  const apps = await discoverApps(config);
  const envs = config.environments;
  const byId = new Map<string, AppStatus>();
  const pinsOf = new Map<string, Map<string, Pin>>(); // `${id}\0${env}` -> name -> pin
  for (const a of apps) {
    const file = a.kustomization;
    const text = await readFile(path.join(config.root, file), 'utf8');
    let entries;
    try {
      entries = readImageEntries(parseKustomization(file, text), file);
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      throw new ConfigError(file, (e as Error).message);
    }
    const st = byId.get(a.id) ?? { id: a.id, deployedTo: [], images: {}, pending: [], differs: false };
    byId.set(a.id, st);
    st.deployedTo.push(a.env.name);
    pinsOf.set(`${a.id}\0${a.env.name}`, new Map(entries.filter((e) => e.pin.tag || e.pin.digest).map((e) => [e.name, e.pin])));
  }
  const pending: StatusReport['pending'] = [];
  for (const st of byId.values()) {
    const names = new Set<string>();
    for (const env of st.deployedTo) for (const n of pinsOf.get(`${st.id}\0${env}`)!.keys()) names.add(n);
    for (const n of [...names].sort()) {
      st.images[n] = {};
      for (const env of envs) {
        if (!st.deployedTo.includes(env.name)) continue;
        const p = pinsOf.get(`${st.id}\0${env.name}`)!.get(n);
        st.images[n]![env.name] = p ? view(p) : null;
      }
    }
    const differ = (a: string, b: string) => [...names].filter((n) => !sameRelease(pinsOf.get(`${st.id}\0${a}`)!.get(n), pinsOf.get(`${st.id}\0${b}`)!.get(n)));
    for (const env of envs) {
      if (!env.promotesFrom || !st.deployedTo.includes(env.name) || !st.deployedTo.includes(env.promotesFrom)) continue;
      // Only images the source pins can be promoted.
      const imgs = differ(env.promotesFrom, env.name).filter((n) => pinsOf.get(`${st.id}\0${env.promotesFrom}`)!.has(n));
      if (imgs.length) {
        st.pending.push({ from: env.promotesFrom, to: env.name, images: imgs });
        pending.push({ app: st.id, from: env.promotesFrom, to: env.name, images: imgs });
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
        .filter((st) => Object.values(st.images).some((per) => !sameRelease(per[a.name] ?? undefined, per[b.name] ?? undefined)))
        .map((st) => st.id);
      differences.push({ envs: [a.name, b.name], apps: list });
    }
  }
  return {
    environments: envs.map((e) => ({ name: e.name, ...(e.promotesFrom ? { promotesFrom: e.promotesFrom } : {}), requireDigests: e.requireDigests })),
    apps: [...byId.values()].sort((a, b) => a.id.localeCompare(b.id)),
    pending,
    differences,
  };
}

export function formatStatusText(r: StatusReport): string {
  const envNames = r.environments.map((e) => e.name);
  const rows: string[][] = [['APP', 'IMAGE', ...envNames, 'STATUS']];
  for (const a of r.apps) {
    const status = [
      ...a.pending.map((p) => `${p.from} -> ${p.to} waiting`),
      ...(a.pending.length === 0 && a.differs ? ['differs'] : []),
      ...(a.deployedTo.length < envNames.length ? [`only ${a.deployedTo.join(', ')}`] : []),
    ].join('; ') || 'in sync';
    const images = Object.keys(a.images);
    if (!images.length) rows.push([a.id, '(none pinned)', ...envNames.map((e) => (a.deployedTo.includes(e) ? '(base)' : '-')), status]);
    images.forEach((img, i) => {
      rows.push([i === 0 ? a.id : '', img.split('/').pop()!, ...envNames.map((e) => cell(a.images[img]![e], a.deployedTo.includes(e))), i === 0 ? status : '']);
    });
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const lines = rows.map((row) => row.map((v, c) => (c === row.length - 1 ? v : v.padEnd(widths[c]!))).join('  ').trimEnd());
  lines.push('');
  lines.push(r.pending.length ? `waiting to be promoted: ${r.pending.map((p) => `${p.app} (${p.from} -> ${p.to})`).join(', ')}` : 'nothing waiting to be promoted');
  for (const d of r.differences) lines.push(`${d.envs[0]} vs ${d.envs[1]}: ${d.apps.length ? `${d.apps.length} app${d.apps.length === 1 ? '' : 's'} differ (${d.apps.join(', ')})` : 'same pins for every app deployed to both'}`);
  return lines.join('\n');
}

export async function status(opts: StatusOptions): Promise<StatusReport> {
  const report = await collectStatus(opts.cwd, opts.envVars ?? process.env);
  const write = opts.write ?? ((t: string) => process.stdout.write(`${t}\n`));
  write(opts.format === 'json' ? JSON.stringify(report, null, 2) : formatStatusText(report));
  return report;
}
