// npm run bump <app> <env> <image-ref>: pin one image of one app in one environment, as a PR.
import { UsageError } from '../lib/errors.js';
import { editYaml, formatPin, matchUsedImage, parseImageRef, parseKustomization, readImageEntries, sameImage, setImagePin, usedImageNames, type Pin } from '../lib/images.js';
import { resolveDigest, type RegistryOptions } from '../lib/registry.js';
import { readOverlay, release, renderApp, resolveTarget, type ReleaseCommonOptions, type ReleaseResult } from '../lib/release.js';

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
  const { app } = await resolveTarget(opts.cwd, opts.app, opts.env, envVars);
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
        const overlay = await readOverlay(ctx.root, ctx.app);
        const used = usedImageNames(await renderApp(ctx.config, ctx.app, ctx.envVars), overlay.entries);
        // The ref may name the base image or the entry's newName; either way the entry is keyed by `name`.
        const byNewName = overlay.entries.find((e) => e.newName && sameImage(e.newName, ref.name));
        const name = matchUsedImage(byNewName?.name ?? ref.name, used);
        if (!name) {
          throw new UsageError(
            `image '${ref.name}' is not used by ${ctx.app.id} in ${ctx.app.env.name} (${overlay.file}); it uses: ${used.join(', ') || '(no images)'}`,
          );
        }
        const entry = overlay.entries.find((e) => sameImage(e.name, name));
        let pin: Pin = { tag: ref.tag, digest: ref.digest };
        if (!pin.digest && opts.resolve !== false) {
          const pullName = entry?.newName ?? byNewName?.newName ?? ref.name;
          const key = `${pullName}:${ref.tag}`;
          if (!resolved.has(key)) {
            ctx.log(`resolving ${key} in its registry`);
            resolved.set(key, await resolveDigest(pullName, ref.tag!, { envVars, ...opts.registry }));
          }
          pin = { tag: ref.tag, digest: resolved.get(key) };
        }
        if (!pin.tag) delete pin.tag;
        if (!pin.digest) delete pin.digest;
        let before: Pin | undefined;
        const text = editYaml(overlay.file, overlay.text, (doc) => {
          before = setImagePin(doc, overlay.file, entry?.name ?? name, pin).before;
        });
        if (text === overlay.text) return null;
        // Check the result parses back to the pin (the edit is the contract, not the text).
        const after = readImageEntries(parseKustomization(overlay.file, text), overlay.file).find((e) => e.name === (entry?.name ?? name));
        if (!after || formatPin(after.pin, { full: true }) !== formatPin(pin, { full: true })) throw new Error(`internal: ${overlay.file} does not pin ${formatPin(pin)} after the edit`);
        const short = name.split('/').pop()!;
        return {
          files: { [overlay.file]: text },
          title: `bump ${ctx.app.id} in ${ctx.app.env.name}: ${short} ${formatPin(before)} -> ${formatPin(pin)}`,
          changes: [{ what: name, from: formatPin(before, { full: true }), to: formatPin(pin, { full: true }) }],
          notes: ref.digest || opts.resolve === false ? [] : [`digest of ${ref.name}:${ref.tag} looked up in its registry`],
        };
      },
    },
    { ...opts, envVars },
  );
}
