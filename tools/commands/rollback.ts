// npm run rollback <app> <env> [--to <digest> | --steps N]: back to an earlier image pin of that
// environment, found in the git history of its overlay kustomization, as a PR.
import { parseWholeNumber } from '../lib/args.js';
import { UsageError, NameError } from '../lib/errors.js';
import { editYaml, formatPin, parseKustomization, pinsEqual, readImageEntries, setImagePin, shortDigest, type Pin } from '../lib/images.js';
import type { Git } from '../lib/git.js';
import { readOverlay, release, resolveTarget, type Change, type ReleaseCommonOptions, type ReleaseResult } from '../lib/release.js';

export interface RollbackOptions extends ReleaseCommonOptions {
  app: string;
  env: string;
  /** A full digest or a unique prefix of one seen in the overlay's history (with or without `sha256:`). */
  to?: string;
  /** How many distinct pins back (default 1). */
  steps?: number | string;
}

/** One distinct state of an app's image pins in the history of its overlay, newest first. */
export interface PinState {
  commit: string;
  subject: string;
  pins: Map<string, Pin>;
}

export const MAX_HISTORY = 500;

function stateKey(pins: Map<string, Pin>, names: string[]): string {
  return JSON.stringify(names.map((n) => [n, pins.get(n)?.tag ?? null, pins.get(n)?.digest ?? null]));
}

/**
 * Pins of the overlay file in every commit that touched it (newest first, at most MAX_HISTORY),
 * keeping only commits where the pins of `names` changed compared with the next newer state.
 */
export async function pinHistory(git: Git, rev: string, file: string, names: string[]): Promise<{ current: Map<string, Pin>; states: PinState[] }> {
  const log = await git.run(['log', `--max-count=${MAX_HISTORY}`, '--format=%H%x09%s', rev, '--', file]);
  const commits = log.split('\n').filter(Boolean).map((l) => {
    const tab = l.indexOf('\t');
    return { commit: l.slice(0, tab), subject: l.slice(tab + 1) };
  });
  const read = async (commit: string): Promise<Map<string, Pin> | undefined> => {
    const text = await git.show(commit, file);
    if (text === undefined) return undefined;
    try {
      return new Map(readImageEntries(parseKustomization(file, text), file).map((e) => [e.name, e.pin]));
    } catch {
      return undefined; // a broken historical revision is skipped, not fatal
    }
  };
  const current = (await read(rev)) ?? new Map<string, Pin>();
  const states: PinState[] = [];
  let prev = stateKey(current, names);
  for (const c of commits) {
    const pins = await read(c.commit);
    if (!pins) break; // the file did not exist before this point
    const key = stateKey(pins, names);
    if (key === prev) continue;
    states.push({ ...c, pins });
    prev = key;
  }
  return { current, states };
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
  const { app } = await resolveTarget(opts.cwd, opts.app, opts.env, envVars);

  return release(
    {
      kind: 'rollback',
      appId: app.id,
      env: app.env.name,
      async edit(ctx) {
        const overlay = await readOverlay(ctx.root, ctx.app);
        const names = overlay.entries.map((e) => e.name);
        if (!names.length) throw new UsageError(`${overlay.file} has no images entries: nothing to roll back`);
        const { current, states } = await pinHistory(ctx.git, ctx.base, ctx.repoPath(overlay.file), names);
        let restore: Map<string, Pin>;
        let from: PinState;
        if (prefix !== undefined) {
          const seen = new Map<string, { state: PinState | undefined; name: string }>();
          for (const [name, pin] of current) if (pin.digest && names.includes(name)) seen.set(pin.digest, { state: undefined, name });
          for (const s of states) for (const [name, pin] of s.pins) if (pin.digest && names.includes(name) && !seen.has(pin.digest)) seen.set(pin.digest, { state: s, name });
          const matches = [...seen.keys()].filter((d) => d.slice('sha256:'.length).startsWith(prefix!));
          if (!matches.length) throw new NameError(`no digest starting with '${prefix}' in the history of ${overlay.file}`, [...seen.keys()].map((d) => `sha256:${shortDigest(d)}`));
          if (matches.length > 1) throw new NameError(`digest prefix '${prefix}' is ambiguous in the history of ${overlay.file}`, matches.map((d) => `sha256:${shortDigest(d)}`));
          const hit = seen.get(matches[0]!)!;
          if (!hit.state) return null; // that digest is what the environment runs now
          from = hit.state;
          restore = new Map([[hit.name, hit.state.pins.get(hit.name)!]]);
        } else {
          if (states.length < steps) {
            throw new UsageError(`${overlay.file} has ${states.length} earlier pin${states.length === 1 ? '' : 's'} in its history; cannot go back ${steps}`, states.length ? `use --steps ${states.length} or less` : undefined);
          }
          from = states[steps - 1]!;
          restore = new Map([...from.pins].filter(([n]) => names.includes(n)));
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
        const changes: Change[] = [];
        const text = editYaml(overlay.file, overlay.text, (doc) => {
          for (const [name, pin] of restore) {
            if (!pin.tag && !pin.digest) continue;
            const { before } = setImagePin(doc, overlay.file, name, pin);
            if (!pinsEqual(before, pin)) changes.push({ what: name, from: formatPin(before, { full: true }), to: formatPin(pin, { full: true }) });
          }
        });
        if (text === overlay.text || !changes.length) return null;
        const one = changes.length === 1 ? changes[0]! : undefined;
        const shortOf = (s: string) => s.replace(/@sha256:([a-f0-9]{12})[a-f0-9]{52}/, '@sha256:$1');
        return {
          files: { [overlay.file]: text },
          title: `rollback ${ctx.app.id} in ${ctx.app.env.name}: ${one ? `${one.what.split('/').pop()} ${shortOf(one.from)} -> ${shortOf(one.to)}` : `${changes.length} images to ${from.commit.slice(0, 12)}`}`,
          changes,
          source: { label: 'restores the pins of commit', sha: from.commit, subject: from.subject },
        };
      },
    },
    { ...opts, envVars },
  );
}
