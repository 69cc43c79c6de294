// npm run promote <app> <env>: copy what defines the release (image pins, promotion.releaseKeys) from the
// environment <env> promotes from into <env>, as a PR. Environment-specific settings are never copied.
import type { Config, Environment } from '../lib/config.js';
import { getEnvironment } from '../lib/config.js';
import { ConfigError, UsageError } from '../lib/errors.js';
import { copyKey, editYaml, formatPin, getKey, parseKeyPath, parseKustomization, pinsEqual, setImagePin, type Pin } from '../lib/images.js';
import { resolveDigest, type RegistryOptions } from '../lib/registry.js';
import { readOverlay, release, resolveTarget, type Change, type ReleaseCommonOptions, type ReleaseResult } from '../lib/release.js';

export interface PromoteOptions extends ReleaseCommonOptions {
  app: string;
  /** Target environment. */
  env: string;
  /** Source environment (default: the target's promotesFrom); must be on its promotion path. */
  from?: string;
  /** Look up digests of tag-only pins when the target requires digests (default true). */
  resolve?: boolean;
  registry?: RegistryOptions;
}

/** Environments a target may be promoted from: its promotesFrom chain, nearest first. */
export function promotionSources(config: Config, target: Environment): string[] {
  const out: string[] = [];
  for (let cur = target.promotesFrom; cur && !out.includes(cur); cur = getEnvironment(config, cur).promotesFrom) out.push(cur);
  return out;
}

function show(v: unknown): string {
  if (v === undefined) return '(unset)';
  const s = JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

export async function promote(opts: PromoteOptions): Promise<ReleaseResult> {
  const envVars = opts.envVars ?? process.env;
  const { config, app } = await resolveTarget(opts.cwd, opts.app, opts.env, envVars);
  const target = app.env;
  const allowed = promotionSources(config, target);
  if (!allowed.length) {
    throw new UsageError(`environment '${target.name}' is not promoted from any environment (gitops.yaml environments: no promotesFrom)`, `use 'npm run bump ${app.id} ${target.name} <image-ref>' to set its images`);
  }
  let source = allowed[0]!;
  if (opts.from !== undefined) {
    const from = getEnvironment(config, opts.from).name;
    if (!allowed.includes(from)) {
      throw new UsageError(`cannot promote to '${target.name}' from '${from}': not on its promotion path\n  allowed sources: ${allowed.join(', ')}`);
    }
    source = from;
  }
  const releaseKeys = config.releaseKeys.map((k) => ({ key: k, segs: parseKeyPath(k) }));
  const resolved = new Map<string, string>();

  return release(
    {
      kind: 'promote',
      appId: app.id,
      env: target.name,
      async edit(ctx) {
        const srcApp = ctx.apps.find((a) => a.id === ctx.app.id && a.env.name === source);
        if (!srcApp) {
          throw new ConfigError(`${getEnvironment(ctx.config, source).overlays.join(', ')}`, `${ctx.app.id} is not deployed to '${source}', so there is nothing to promote from it`);
        }
        const src = await readOverlay(ctx.root, srcApp);
        const dst = await readOverlay(ctx.root, ctx.app);
        const pins: Array<{ name: string; pin: Pin }> = [];
        for (const e of src.entries) {
          if (!e.pin.tag && !e.pin.digest) continue; // an entry that only renames is environment-specific
          let pin: Pin = { ...e.pin };
          if (target.requireDigests && !pin.digest) {
            const pullName = e.newName ?? e.name;
            if (opts.resolve === false) {
              throw new UsageError(
                `${src.file}: images '${e.name}' is pinned by tag only (${pin.tag}) and '${target.name}' requires digests; --no-resolve forbids looking the digest up`,
                `drop --no-resolve, or pin the digest in ${source} first: npm run bump ${ctx.app.id} ${source} ${pullName}:${pin.tag}@sha256:<digest>`,
              );
            }
            const key = `${pullName}:${pin.tag}`;
            if (!resolved.has(key)) {
              ctx.log(`resolving ${key} in its registry (${target.name} requires digests)`);
              resolved.set(key, await resolveDigest(pullName, pin.tag!, { envVars, ...opts.registry }));
            }
            pin = { tag: pin.tag, digest: resolved.get(key) };
          }
          pins.push({ name: e.name, pin });
        }
        const changes: Change[] = [];
        const notes: string[] = [];
        const srcDoc = parseKustomization(src.file, src.text);
        const text = editYaml(dst.file, dst.text, (doc) => {
          for (const { name, pin } of pins) {
            const { before } = setImagePin(doc, dst.file, name, pin);
            if (!pinsEqual(before, pin)) changes.push({ what: name, from: formatPin(before, { full: true }), to: formatPin(pin, { full: true }) });
          }
          for (const { key, segs } of releaseKeys) {
            const before = getKey(doc, segs).value;
            const r = copyKey(srcDoc, doc, segs);
            if (r.missingInSource) notes.push(`release key ${key} is not set in ${source}; left as it is in ${target.name}`);
            if (r.changed) changes.push({ what: key, from: show(before), to: show(getKey(doc, segs).value) });
          }
        });
        if (text === dst.text || !changes.length) return null;
        const sha = (await ctx.git.run(['log', '-1', '--format=%H%x00%s', ctx.base, '--', ctx.repoPath(`${srcApp.dir}/`)])).trim();
        const [srcSha, subject] = sha.split('\0');
        const images = changes.filter((c) => !c.what.startsWith('/') && !releaseKeys.some((k) => k.key === c.what));
        const summary = images.length === 1 && changes.length === 1 ? `${images[0]!.what.split('/').pop()} ${formatPin(pins.find((p) => p.name === images[0]!.what)?.pin)}` : `${changes.length} changes`;
        return {
          files: { [dst.file]: text },
          title: `promote ${ctx.app.id} ${source} -> ${target.name}: ${summary}`,
          changes,
          notes,
          source: srcSha ? { label: `source: ${source} (${srcApp.dir}) at commit`, sha: srcSha, subject } : undefined,
        };
      },
    },
    { ...opts, envVars },
  );
}
