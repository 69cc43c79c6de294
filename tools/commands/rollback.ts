// npm run rollback <app> <env> [--to <digest> | --steps N]: back to an earlier image pin of that
// environment, found in the git history of the files that decide its images (the overlay's images:,
// or a patch or component only that environment uses), written back there, as a PR.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments, type Document } from 'yaml';
import { parseWholeNumber } from '../lib/cli/args.js';
import { ConfigError, UsageError, NameError } from '../lib/core/errors.js';
import { formatPin, parseImageRef, parseKustomization, readImageEntries, sameImage, shortDigest, type Pin } from '../lib/render/images.js';
import type { Git } from '../lib/remote/git.js';
import { release, resolveTarget, type Change, type Edit, type EditContext, type ReleaseCommonOptions, type ReleaseResult } from '../lib/release/release.js';
import { chartVersionAt, checkValuesOwner, contentHash, findChartPlace, ownObject, releaseInventory, writeChartVersion, type ChartPlace } from '../lib/release/helm.js';
import { allTreeFiles, appKey, checkRenderedPins, imageStates, pinPlaces, planPinEdits, renderAppImages, type PinPlace } from '../lib/release/releasestate.js';
import { findKustomize } from '../lib/core/tools.js';
import { readReleaseFile } from '../lib/config/releasefiles.js';
import { createHash } from 'node:crypto';

/** History key of a release file (gitops.yaml promotion.files) beside the image keys. */
const FILE_KEY = 'file:';

export interface RollbackOptions extends ReleaseCommonOptions {
  app: string;
  env: string;
  /** A full digest or a unique prefix of one seen in the overlay's history (with or without `sha256:`). */
  to?: string;
  /** How many distinct pins back (default 1). */
  steps?: number | string;
}

/** One distinct state of an app's image pins in the history of the files that set them, newest first. */
export interface PinState {
  commit: string;
  subject: string;
  pins: Map<string, Pin>;
}

export const MAX_HISTORY = 500;

/** Where one image's pin is decided, and how to read it from any revision of that file. */
export interface PinSource {
  key: string;
  /** Repo-relative (as git names it). */
  file: string;
  read: (text: string) => Pin | undefined;
}

function stateKey(pins: Map<string, Pin>, names: string[]): string {
  return JSON.stringify(names.map((n) => [n, pins.get(n)?.tag ?? null, pins.get(n)?.digest ?? null]));
}

/** Reads the pin at a place from a file's text (an images entry, or an image scalar); undefined when absent or unreadable. */
export function pinReader(place: PinPlace): (text: string) => Pin | undefined {
  return (text) => {
    try {
      if (place.how === 'images') {
        const entries = readImageEntries(parseKustomization(place.file, text), place.file);
        const e = entries.find((x) => x.name === place.entryName) ?? entries.find((x) => sameImage(x.name, place.entryName!));
        return e && (e.pin.tag || e.pin.digest) ? e.pin : undefined;
      }
      const docs = parseAllDocuments(text) as Document.Parsed[];
      const v = (Array.isArray(docs) ? docs : [docs])[place.doc ?? 0]?.getIn(place.path!);
      if (typeof v !== 'string') return undefined;
      const r = parseImageRef(v, { requirePin: false });
      return r.tag || r.digest ? { ...(r.tag ? { tag: r.tag } : {}), ...(r.digest ? { digest: r.digest } : {}) } : undefined;
    } catch {
      return undefined; // a broken historical revision is skipped, not fatal
    }
  };
}

/**
 * Pins in every commit that touched one of the files that set them (newest first, at most
 * MAX_HISTORY), keeping only commits where a pin changed compared with the next newer state.
 */
export async function pinHistory(git: Git, rev: string, sources: PinSource[]): Promise<{ current: Map<string, Pin>; states: PinState[] }> {
  const files = [...new Set(sources.map((s) => s.file))];
  const log = await git.run(['log', `--max-count=${MAX_HISTORY}`, '--format=%H%x09%s', rev, '--', ...files]);
  const commits = log.split('\n').filter(Boolean).map((l) => {
    const tab = l.indexOf('\t');
    return { commit: l.slice(0, tab), subject: l.slice(tab + 1) };
  });
  const names = sources.map((s) => s.key);
  const read = async (commit: string): Promise<Map<string, Pin> | undefined> => {
    const texts = new Map<string, string | undefined>();
    for (const f of files) texts.set(f, await git.show(commit, f));
    if ([...texts.values()].every((t) => t === undefined)) return undefined;
    const pins = new Map<string, Pin>();
    for (const s of sources) {
      const text = texts.get(s.file);
      const pin = text === undefined ? undefined : s.read(text);
      if (pin) pins.set(s.key, pin);
    }
    return pins;
  };
  const current = (await read(rev)) ?? new Map<string, Pin>();
  const states: PinState[] = [];
  let prev = stateKey(current, names);
  for (const c of commits) {
    const pins = await read(c.commit);
    if (!pins) break; // the files did not exist before this point
    const key = stateKey(pins, names);
    if (key === prev) continue;
    states.push({ ...c, pins });
    prev = key;
  }
  return { current, states };
}

/**
 * Rolls a Helm app back to an earlier state of its chart version (where it is written, found as
 * promote finds it) and its released values files, from their git history.
 */
async function rollbackHelm(ctx: EditContext, steps: number): Promise<Edit | null> {
  const tool = await findKustomize(ctx.envVars);
  const { helm: all } = await releaseInventory(ctx.config, tool);
  const h = all.find((x) => x.id === ctx.app.id && x.env.name === ctx.app.env.name);
  if (!h) throw new UsageError(`${ctx.app.id} in ${ctx.app.env.name} is not deployed by a Helm source`);
  if (h.problem) throw new UsageError(`${h.id} in ${h.env.name} (Argo CD Application ${h.name}): ${h.problem}`);
  const sources: PinSource[] = [];
  let place: ChartPlace | undefined;
  if (ctx.config.releaseHelm.chart && h.chart) {
    place = await findChartPlace(ctx.config, tool, h);
    const at = place;
    sources.push({ key: 'chart', file: ctx.repoPath(at.file), read: (text) => { const v = chartVersionAt(at, text); return v === undefined ? undefined : { tag: v }; } });
  }
  for (const r of h.released) sources.push({ key: `${FILE_KEY}${r.file}`, file: ctx.repoPath(r.file), read: (text) => ({ tag: contentHash(text).slice(0, 12) }) });
  if (!sources.length) throw new UsageError(`${h.id} in ${h.env.name} (Argo CD Application ${h.name}) has no chart version from a chart repository and no values file promotion.helm.valueFiles names: nothing to roll back`);
  const where = [...new Set(sources.map((s) => s.file))].join(', ');
  const { current, states } = await pinHistory(ctx.git, ctx.base, sources);
  if (states.length < steps) throw new UsageError(`${where} has ${states.length} earlier Helm release${states.length === 1 ? '' : 's'} of ${h.name} in its history; cannot go back ${steps}`, states.length ? `use --steps ${states.length} or less` : undefined);
  const from = states[steps - 1]!;
  const files: Record<string, string> = {};
  const changes: Change[] = [];
  const own: NonNullable<Edit['own']> = [];
  const old = from.pins.get('chart')?.tag;
  if (place && old !== undefined && old !== current.get('chart')?.tag) {
    const w = await writeChartVersion(ctx.config, tool, h, place, old);
    files[w.file] = w.text;
    own.push(ownObject(h));
    changes.push({ what: `chart ${h.chart!.name}`, from: current.get('chart')?.tag ?? '(unset)', to: old });
  }
  for (const r of h.released) {
    const was = from.pins.get(`${FILE_KEY}${r.file}`)?.tag;
    const now = current.get(`${FILE_KEY}${r.file}`)?.tag;
    const text = await ctx.git.show(from.commit, ctx.repoPath(r.file));
    if (text === undefined || was === now) continue;
    checkValuesOwner(all, h, r.file);
    files[r.file] = text;
    changes.push({ what: `values ${r.file}`, from: now ? `sha256:${now}` : '(none)', to: `sha256:${was}` });
  }
  if (!changes.length) return null;
  const one = changes.length === 1 ? changes[0]! : undefined;
  return {
    files,
    title: `rollback ${h.id} in ${h.env.name}: ${one ? `${one.what} ${one.from} -> ${one.to}` : `Helm release to ${from.commit.slice(0, 12)}`}`,
    changes,
    own,
    source: { label: 'restores the Helm release of commit', sha: from.commit, subject: from.subject },
  };
}

export async function rollback(opts: RollbackOptions): Promise<ReleaseResult> {
  const envVars = opts.envVars ?? process.env;
  if (opts.to !== undefined && opts.steps !== undefined) throw new UsageError('pass either --to or --steps, not both');
  const steps = opts.steps === undefined ? 1 : parseWholeNumber(opts.steps, '--steps', 1, 100);
  let prefix: string | undefined;
  if (opts.to !== undefined) {
    prefix = opts.to.trim().replace(/^sha256:/, '').toLowerCase();
    if (!/^[a-f0-9]{4,64}$/.test(prefix)) throw new UsageError(`--to must be a digest or a prefix of at least 4 hex characters (got '${opts.to}')`);
  }
  const { app } = await resolveTarget(opts.cwd, opts.app, opts.env, envVars, { helm: true });

  return release(
    {
      kind: 'rollback',
      appId: app.id,
      env: app.env.name,
      async edit(ctx) {
        if (ctx.app.helm) {
          if (prefix !== undefined) throw new UsageError(`--to names an image digest; ${ctx.app.id} in ${ctx.app.env.name} is a Helm release (chart version and values files): use --steps`);
          return rollbackHelm(ctx, steps);
        }
        // The history that matters is that of the files deciding each image for this environment.
        const tool = await findKustomize(ctx.envVars);
        const target = (await renderAppImages(ctx.config, tool, [ctx.app])).get(appKey(ctx.app))!;
        if (target.error) throw new ConfigError(target.overlayFile, `does not render: ${target.error}`);
        const trees = await allTreeFiles(ctx.root, ctx.apps);
        const sources: PinSource[] = [];
        const refused: string[] = [];
        for (const [key, state] of imageStates(target)) {
          let places;
          try {
            places = pinPlaces(target, state, trees);
          } catch (e) {
            if (!(e instanceof UsageError)) throw e;
            refused.push(e.message);
            continue;
          }
          // A pin the base leaves open has no history of its own in the overlay yet.
          for (const place of places) if (place.origin?.kind !== 'resource' || place.how === 'scalar') sources.push({ key, file: ctx.repoPath(place.file), read: pinReader(place) });
        }
        // Release files are part of the state too: their content hash stands in for a pin.
        for (const f of ctx.config.releaseFiles) {
          if ((await readReleaseFile(ctx.root, ctx.app.dir, f)) === undefined) continue;
          sources.push({ key: `${FILE_KEY}${f}`, file: ctx.repoPath(path.posix.join(ctx.app.dir, f)), read: (text) => ({ tag: createHash('sha256').update(text).digest('hex').slice(0, 12) }) });
        }
        const names = [...new Set(sources.map((s) => s.key))];
        const where = [...new Set(sources.map((s) => s.file))].join(', ') || target.overlayFile;
        if (!names.length) throw new UsageError(`no image of ${ctx.app.id} in ${ctx.app.env.name} is pinned in a file it owns: nothing to roll back${refused.length ? `\n  ${refused.join('\n  ')}` : ''}`);
        const { current, states } = await pinHistory(ctx.git, ctx.base, sources);
        let restore: Map<string, Pin>;
        let from: PinState;
        if (prefix !== undefined) {
          const seen = new Map<string, { state: PinState | undefined; name: string }>();
          for (const [name, pin] of current) if (pin.digest && names.includes(name)) seen.set(pin.digest, { state: undefined, name });
          for (const s of states) for (const [name, pin] of s.pins) if (pin.digest && names.includes(name) && !seen.has(pin.digest)) seen.set(pin.digest, { state: s, name });
          const matches = [...seen.keys()].filter((d) => d.slice('sha256:'.length).startsWith(prefix!));
          if (!matches.length) throw new NameError(`no digest starting with '${prefix}' in the history of ${where}`, [...seen.keys()].map((d) => `sha256:${shortDigest(d)}`));
          if (matches.length > 1) throw new NameError(`digest prefix '${prefix}' is ambiguous in the history of ${where}`, matches.map((d) => `sha256:${shortDigest(d)}`));
          const hit = seen.get(matches[0]!)!;
          if (!hit.state) return null; // that digest is what the environment runs now
          from = hit.state;
          restore = new Map([[hit.name, hit.state.pins.get(hit.name)!]]);
        } else {
          if (states.length < steps) {
            throw new UsageError(`${where} has ${states.length} earlier pin${states.length === 1 ? '' : 's'} in its history; cannot go back ${steps}`, states.length ? `use --steps ${states.length} or less` : undefined);
          }
          from = states[steps - 1]!;
          restore = new Map([...from.pins].filter(([n]) => names.includes(n)));
        }
        // Release files come back whole, as they were at that commit.
        const fileChanges: Change[] = [];
        const fileTexts: Record<string, string> = {};
        for (const [key, pin] of [...restore]) {
          if (!key.startsWith(FILE_KEY)) continue;
          restore.delete(key);
          const f = key.slice(FILE_KEY.length);
          const rel = path.posix.join(ctx.app.dir, f);
          const old = await ctx.git.show(from.commit, ctx.repoPath(rel));
          const now = current.get(key);
          if (old === undefined || now?.tag === pin.tag) continue;
          fileTexts[rel] = old;
          fileChanges.push({ what: `file ${f}`, from: now ? `sha256:${now.tag}` : '(none)', to: `sha256:${pin.tag}` });
        }
        if (ctx.app.env.requireDigests) {
          const bare = [...restore].filter(([, p]) => !p.digest);
          if (bare.length) {
            const digests = states.flatMap((s) => [...s.pins.values()]).filter((p) => p.digest).map((p) => `sha256:${shortDigest(p.digest)}`);
            throw new UsageError(
              `the pin of ${bare.map(([n]) => n).join(', ')} as of ${from.commit.slice(0, 12)} (${formatPin(bare[0]![1])}) has no digest, and '${ctx.app.env.name}' requires digests; a tag may point at other bytes now`,
              digests.length ? `roll back to a digest-pinned state with --to <digest> (seen: ${[...new Set(digests)].join(', ')})` : 'pin the wanted digest with npm run bump',
            );
          }
        }
        const full = (p: Pin | undefined) => formatPin(p, { full: true });
        const wanted = [...restore].filter(([, p]) => p.tag || p.digest).map(([key, pin]) => ({ key, pin }));
        const plan = await planPinEdits(ctx.root, target, wanted, trees, full);
        const changes: Change[] = [...plan.changes.map(({ what, from, to }) => ({ what, from, to })), ...fileChanges];
        Object.assign(plan.files, fileTexts);
        if (!changes.length) return null;
        for (const [file, text] of Object.entries(plan.files)) await writeFile(path.join(ctx.root, file), text);
        await checkRenderedPins(ctx.config, tool, ctx.app, wanted, full);
        const one = changes.length === 1 ? changes[0]! : undefined;
        const shortOf = (s: string) => s.replace(/@sha256:([a-f0-9]{12})[a-f0-9]{52}/, '@sha256:$1');
        return {
          files: plan.files,
          title: `rollback ${ctx.app.id} in ${ctx.app.env.name}: ${one ? `${one.what.split('/').pop()} ${shortOf(one.from)} -> ${shortOf(one.to)}` : `${changes.length} images to ${from.commit.slice(0, 12)}`}`,
          changes,
          source: { label: 'restores the pins of commit', sha: from.commit, subject: from.subject },
        };
      },
    },
    { ...opts, envVars },
  );
}
