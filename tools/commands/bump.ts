// npm run bump <app> <env> <image-ref>: pin one image of one app in one environment, as a PR, where that
// environment's value is decided (its overlay's images:, or a patch or component only it uses).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, UsageError } from '../lib/core/errors.js';
import { formatPin, parseImageRef, sameImage, type Pin } from '../lib/render/images.js';
import { resolveDigest, type RegistryOptions } from '../lib/remote/registry.js';
import { release, resolveTarget, type ReleaseCommonOptions, type ReleaseResult } from '../lib/release/release.js';
import { allTreeFiles, appKey, checkRenderedPins, imageStates, planPinEdits, renderAppImages } from '../lib/release/releasestate.js';
import { findKustomize } from '../lib/core/tools.js';

export interface BumpOptions extends ReleaseCommonOptions {
  app: string;
  env: string;
  /** `name:tag`, `name@sha256:<hex>` or `name:tag@sha256:<hex>`. */
  image: string;
  /** Look a tag's digest up in the registry (default true; --no-resolve sets false). */
  resolve?: boolean;
  registry?: RegistryOptions;
}

export async function bump(opts: BumpOptions): Promise<ReleaseResult> {
  const envVars = opts.envVars ?? process.env;
  const ref = parseImageRef(opts.image);
  const { app } = await resolveTarget(opts.cwd, opts.app, opts.env, envVars, { command: 'bump' });
  if (app.env.requireDigests && !ref.digest && opts.resolve === false) {
    throw new UsageError(`environment '${app.env.name}' requires digests (gitops.yaml requireDigests) and '${opts.image}' has a tag only`, `drop --no-resolve to look the digest up, or pass ${ref.name}:${ref.tag}@sha256:<digest>`);
  }
  const resolved = new Map<string, string>();

  return release(
    {
      kind: 'bump',
      appId: app.id,
      env: app.env.name,
      async edit(ctx) {
        const tool = await findKustomize(ctx.envVars);
        const target = (await renderAppImages(ctx.config, tool, [ctx.app])).get(appKey(ctx.app))!;
        if (target.error) throw new ConfigError(target.overlayFile, `does not render: ${target.error}`);
        const states = imageStates(target);
        // The ref may name the image as the base writes it or as it renders (after a newName).
        const state = [...states.values()].find((s) => sameImage(s.key, ref.name)) ?? [...states.values()].find((s) => sameImage(s.name, ref.name));
        if (!state) {
          throw new UsageError(`image '${ref.name}' is not used by ${ctx.app.id} in ${ctx.app.env.name} (${target.overlayFile}); it uses: ${[...states.keys()].join(', ') || '(no images)'}`);
        }
        let pin: Pin = { tag: ref.tag, digest: ref.digest };
        if (!pin.digest && opts.resolve !== false) {
          // Looked up where it is pulled from: the rendered name (a newName applies).
          const pullName = sameImage(state.key, ref.name) ? state.name : ref.name;
          const key = `${pullName}:${ref.tag}`;
          if (!resolved.has(key)) {
            ctx.log(`resolving ${key} in its registry`);
            resolved.set(key, await resolveDigest(pullName, ref.tag!, { envVars, ...opts.registry }));
          }
          pin = { tag: ref.tag, digest: resolved.get(key) };
        }
        if (!pin.tag) delete pin.tag;
        if (!pin.digest) delete pin.digest;
        const full = (p: Pin | undefined) => formatPin(p, { full: true });
        const wanted = [{ key: state.key, pin }];
        const plan = await planPinEdits(ctx.root, target, wanted, await allTreeFiles(ctx.root, ctx.apps), full);
        if (!Object.keys(plan.files).length) return null;
        for (const [file, text] of Object.entries(plan.files)) await writeFile(path.join(ctx.root, file), text);
        await checkRenderedPins(ctx.config, tool, ctx.app, wanted, full);
        const short = state.key.split('/').pop()!;
        return {
          files: plan.files,
          title: `bump ${ctx.app.id} in ${ctx.app.env.name}: ${short} ${formatPin(state.pin)} -> ${formatPin(pin)}`,
          changes: plan.changes.map(({ what, from, to }) => ({ what, from, to })),
          notes: [
            ...(ref.digest || opts.resolve === false ? [] : [`digest of ${ref.name}:${ref.tag} looked up in its registry`]),
            ...plan.changes.filter((c) => c.file !== target.overlayFile).map((c) => `${c.what} is set in ${c.file} (${c.why})`),
          ],
        };
      },
    },
    { ...opts, envVars },
  );
}
