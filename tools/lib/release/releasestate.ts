// Release state from the render: which image each app runs in each environment (as kustomize
// renders it) and the one place to edit to change it for that environment alone.
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import type { AppOverlay } from '../config/apps.js';
import type { Config } from '../config/config.js';
import { ConfigError, UsageError } from '../core/errors.js';
import { editYaml, parseImageRef, pinsEqual, readImageEntries, parseKustomization, sameImage, setImagePin, type Pin } from '../render/images.js';
import { attributeImages, describeOrigin, loadTree, treeFiles, type ContainerImage, type ImageOrigin, type KNode } from '../render/imagesource.js';
import type { K8sObject } from '../core/k8s.js';
import { appTargets, renderTargets } from '../render/render.js';
import type { Tool } from '../core/tools.js';
import { replaceScalar } from '../core/yamlfile.js';

/** What one app renders in one environment. */
export interface AppImages {
  app: AppOverlay;
  /** The overlay's kustomization file (repo-relative). */
  overlayFile: string;
  tree?: KNode;
  containers: ContainerImage[];
  /** Why the app could not be rendered or read (then containers is empty). */
  error?: string;
}

/** One image of an app in one environment: the containers that run it agree, or `mixed`. */
export interface ImageState {
  key: string;
  name: string;
  pin: Pin;
  containers: ContainerImage[];
  /** The containers render different references for this image. */
  mixed: boolean;
}

export const appKey = (a: Pick<AppOverlay, 'id' | 'env'>): string => `${a.id}\0${a.env.name}`;

/** Reads the kustomization tree of an app (the files that may set its images). */
export async function appTree(root: string, app: AppOverlay): Promise<KNode> {
  return loadTree(root, app.dir);
}

/** Attributes rendered objects of an app (rendered elsewhere) to the files of its tree. */
export function appImagesFrom(app: AppOverlay, tree: KNode, objects: K8sObject[]): AppImages {
  return { app, overlayFile: tree.file.file, tree, containers: attributeImages(tree, objects) };
}

/** Renders the apps (with the render cache) and attributes every container image. */
export async function renderAppImages(config: Config, tool: Tool, apps: AppOverlay[]): Promise<Map<string, AppImages>> {
  const rendered = await renderTargets(config, tool, appTargets(apps));
  const out = new Map<string, AppImages>();
  for (const [i, r] of rendered.entries()) {
    const app = apps[i]!;
    const err = r.findings.find((f) => f.severity === 'error');
    // A tree is read only once kustomize rendered it: the render's checks (paths that leave the
    // repository, YAML limits) have passed by then.
    if (err) {
      out.set(appKey(app), { app, overlayFile: app.kustomization, containers: [], error: `${err.file ?? app.dir}${err.line ? `:${err.line}` : ''}: ${err.message}` });
      continue;
    }
    let tree: KNode;
    try {
      tree = await appTree(config.root, app);
    } catch (e) {
      out.set(appKey(app), { app, overlayFile: app.kustomization, containers: [], error: (e as Error).message });
      continue;
    }
    out.set(appKey(app), appImagesFrom(app, tree, r.objects));
  }
  return out;
}

/** Groups an app's containers by image key (the name written in the base). */
export function imageStates(a: AppImages): Map<string, ImageState> {
  const out = new Map<string, ImageState>();
  for (const c of a.containers) {
    const key = c.key ?? c.name;
    const s = out.get(key);
    if (!s) out.set(key, { key, name: c.name, pin: c.pin, containers: [c], mixed: false });
    else {
      s.containers.push(c);
      if (s.name !== c.name || !pinsEqual(s.pin, c.pin)) s.mixed = true;
    }
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

// ---------------------------------------------------------------------------------------------
// Where to edit.

/** One file edit that sets a pin: an images entry, or an image scalar in a patch or resource. */
export interface PinPlace {
  file: string;
  /** `images` edits an entry (set or added); `scalar` rewrites one `image:` value in place. */
  how: 'images' | 'scalar';
  /** images: the entry's name. */
  entryName?: string;
  /** scalar: document index and YAML path of the image value. */
  doc?: number;
  path?: (string | number)[];
  /** What decides the value today (undefined when an overlay images entry is added). */
  origin?: ImageOrigin;
  /** For messages: why this place. */
  why: string;
}

/** Apps (any environment) whose kustomization tree reads `file`. */
export function usersOf(file: string, trees: Map<string, { app: AppOverlay; files: Set<string> }>): AppOverlay[] {
  return [...trees.values()].filter((t) => t.files.has(file)).map((t) => t.app);
}

/** The file set of every app's tree, for "who else uses this file" (missing trees are skipped: they render nothing). */
export async function allTreeFiles(root: string, apps: AppOverlay[]): Promise<Map<string, { app: AppOverlay; files: Set<string> }>> {
  const out = new Map<string, { app: AppOverlay; files: Set<string> }>();
  for (const a of apps) {
    const tree = await appTree(root, a).catch(() => undefined);
    if (tree) out.set(appKey(a), { app: a, files: treeFiles(tree) });
  }
  return out;
}

function listUsers(users: AppOverlay[]): string {
  return users.map((u) => `${u.dir} (${u.env.name})`).join(', ');
}

/**
 * The places to edit so that every container of `state` runs a new pin in this environment only.
 * Throws UsageError (naming the file and the overlays that share it) when the deciding place is
 * shared with another environment (an images entry of a component or base) or with another
 * overlay (a patch or resource file), or cannot be told.
 */
export function pinPlaces(target: AppImages, state: ImageState, trees: Map<string, { app: AppOverlay; files: Set<string> }>): PinPlace[] {
  const app = target.app;
  const places = new Map<string, PinPlace>();
  for (const c of state.containers) {
    const o = c.pinFrom;
    if (!o) {
      throw new UsageError(`cannot tell which file sets ${c.image} in ${c.object} (container ${c.container}) of ${app.id} in ${app.env.name}: ${c.unknown ?? 'unknown'}`, `set it by hand in ${target.overlayFile} (images:) and re-run`);
    }
    const others = usersOf(o.file, trees).filter((u) => !(u.id === app.id && u.env.name === app.env.name));
    let place: PinPlace;
    if (o.kind === 'images') {
      const otherEnvs = others.filter((u) => u.env.name !== app.env.name);
      if (o.file !== target.overlayFile && otherEnvs.length) {
        throw new UsageError(
          `${describeOrigin(o)} sets ${state.key} for ${app.id} in ${app.env.name}, and other environments use that file too: ${listUsers(otherEnvs)}; changing it would change them as well`,
          `pin ${state.key} in ${target.overlayFile} (images:) to override it for ${app.env.name} alone, or move the entry out of the shared file`,
        );
      }
      const alsoHere = others.filter((u) => u.env.name === app.env.name);
      place = {
        file: o.file,
        how: 'images',
        entryName: o.entryName,
        origin: o,
        why: o.file === target.overlayFile ? "the overlay's images: entry" : `images: of ${o.file}, used only by ${app.env.name} overlays${alsoHere.length ? `; it changes ${alsoHere.map((u) => u.dir).join(', ')} too` : ''}`,
      };
    } else if (o.kind === 'patch' || (o.kind === 'resource' && !others.length)) {
      if (o.inline) {
        throw new UsageError(`${describeOrigin(o)} sets ${state.key} for ${app.id} in ${app.env.name} in an inline patch, which the toolkit does not rewrite`, `move the patch to a file, or pin ${state.key} in ${target.overlayFile} (images:)`);
      }
      if (others.length) {
        throw new UsageError(
          `${describeOrigin(o)} sets ${state.key} for ${app.id} in ${app.env.name}, and other overlays use that patch too: ${listUsers(others)}; changing it would change them as well`,
          `pin ${state.key} in ${target.overlayFile} (images:) to override it for ${app.env.name} alone, or give this overlay its own patch`,
        );
      }
      place = { file: o.file, how: 'scalar', doc: o.doc, path: o.path, origin: o, why: o.kind === 'patch' ? `the patch that sets it, used only by ${target.app.dir}` : `the resource that sets it, used only by ${target.app.dir}` };
    } else {
      // A shared base: the overlay's images: is where an environment pins what the base leaves open.
      const renamed = c.nameFrom?.kind === 'images' && c.nameFrom.file === target.overlayFile ? c.nameFrom.entryName : undefined;
      place = { file: target.overlayFile, how: 'images', entryName: renamed ?? c.name, origin: o, why: `the base ${o.file} is shared (${listUsers(others)}); an images: entry in the overlay pins it for ${app.env.name}` };
    }
    places.set(`${place.file}\0${place.how}\0${place.entryName ?? ''}\0${place.doc ?? ''}\0${JSON.stringify(place.path ?? [])}`, place);
  }
  return [...places.values()];
}

/** The full reference with a new pin: a tag and/or digest (a new pin replaces both, as kustomize does). */
export function withPin(image: string, pin: Pin): string {
  const name = parseImageRef(image, { requirePin: false }).name;
  return `${name}${pin.tag ? `:${pin.tag}` : ''}${pin.digest ? `@${pin.digest}` : ''}`;
}

/**
 * Applies one place's edit to its file text. An existing images entry whose pin is one scalar is
 * rewritten in place (every other byte kept); adding an entry or changing its shape goes
 * through the format-preserving editor. Returns the previous pin and the new text.
 */
export function applyPinEdit(place: PinPlace, text: string, pin: Pin): { text: string; before?: Pin } {
  if (place.how === 'scalar') {
    const doc = place.doc ?? 0;
    const r = replaceScalar(place.file, text, doc, place.path!, (old) => {
      if (typeof old !== 'string') throw new ConfigError(place.file, `${place.path!.join('.')}: expected an image reference`);
      return withPin(old, pin);
    });
    return { text: r.text, before: pinOf(String(r.before)) };
  }
  const file = place.file;
  const entries = readImageEntries(parseKustomization(file, text), file);
  const entry = entries.find((e) => e.name === place.entryName) ?? entries.find((e) => sameImage(e.name, place.entryName!));
  if (entry) {
    const i = entries.indexOf(entry);
    const doc = parseKustomization(file, text);
    const m = doc.getIn(['images', i], true) as { has(k: string): boolean };
    // One scalar holds the pin: rewrite it in place.
    if (pin.tag && m.has('newTag') && !m.has('digest')) {
      const r = replaceScalar(file, text, 0, ['images', i, 'newTag'], () => (pin.digest ? `${pin.tag}@${pin.digest}` : pin.tag!));
      return { text: r.text, before: entry.pin };
    }
    if (!pin.tag && m.has('digest') && !m.has('newTag')) {
      const r = replaceScalar(file, text, 0, ['images', i, 'digest'], () => pin.digest!);
      return { text: r.text, before: entry.pin };
    }
  }
  let before: Pin | undefined;
  const out = editYaml(file, text, (d) => {
    before = setImagePin(d, file, entry?.name ?? place.entryName!, pin).before;
  });
  return { text: out, before };
}

function pinOf(image: string): Pin {
  try {
    const r = parseImageRef(image, { requirePin: false });
    return { ...(r.tag ? { tag: r.tag } : {}), ...(r.digest ? { digest: r.digest } : {}) };
  } catch {
    return {};
  }
}

/** Reads a repo-relative file of a checkout. */
export async function readRepoFile(root: string, file: string): Promise<string> {
  const text = await readFile(path.join(root, file), 'utf8').catch(() => undefined);
  if (text === undefined) throw new ConfigError(file, 'not found');
  return text;
}

/** One image to set in one environment (by key: the name the base writes). */
export interface WantedPin {
  key: string;
  pin: Pin;
}

export interface PinEditPlan {
  /** Repo-relative file -> new text. */
  files: Record<string, string>;
  changes: Array<{ what: string; from: string; to: string; file: string; why: string }>;
}

/**
 * Edits the deciding place of each wanted image of `target` (files read from `root`, edits of
 * one file compose). Images already at the wanted pin are left alone.
 */
export async function planPinEdits(root: string, target: AppImages, wanted: WantedPin[], trees: Map<string, { app: AppOverlay; files: Set<string> }>, format: (p: Pin | undefined) => string): Promise<PinEditPlan> {
  const states = imageStates(target);
  const files: Record<string, string> = {};
  const changes: PinEditPlan['changes'] = [];
  for (const w of wanted) {
    const state = states.get(w.key);
    if (!state) throw new UsageError(`${target.app.id} in ${target.app.env.name} does not run ${w.key}`);
    if (!state.mixed && pinsEqual(state.pin, w.pin)) continue;
    for (const place of pinPlaces(target, state, trees)) {
      const text = files[place.file] ?? (await readRepoFile(root, place.file));
      const r = applyPinEdit(place, text, w.pin);
      if (r.text === text) continue;
      files[place.file] = r.text;
      changes.push({ what: w.key, from: format(r.before ?? state.pin), to: format(w.pin), file: place.file, why: place.why });
    }
  }
  return { files, changes };
}

/**
 * Renders `app` after `files` were written to `root` and checks that every wanted image now
 * renders the wanted pin: the edit is the contract, not the text.
 */
export async function checkRenderedPins(config: Config, tool: Tool, app: AppOverlay, wanted: WantedPin[], format: (p: Pin | undefined) => string): Promise<void> {
  const r = (await renderAppImages(config, tool, [app])).get(appKey(app))!;
  if (r.error) throw new ConfigError(r.overlayFile, `does not render after the edit: ${r.error}`);
  const states = imageStates(r);
  for (const w of wanted) {
    const s = states.get(w.key);
    if (!s || s.mixed || !pinsEqual(s.pin, w.pin)) {
      throw new ConfigError(r.overlayFile, `after the edit ${w.key} renders ${s ? s.containers.map((c) => c.image).join(', ') : 'nowhere'}, not ${format(w.pin)}; nothing was committed`, 'something the toolkit does not follow (a replacement, a generator) overrides the pin; set it by hand');
    }
  }
}
