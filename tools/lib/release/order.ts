// Which of two releases of one image is newer: semantic versioning where both tags are semver
// (npm's semver), otherwise the registry's build time of each digest (the image config's
// `created`), otherwise nothing: the tool then says the environments differ, never that one waits.
import semver from 'semver';
import { formatPin, sameRelease, type Pin } from '../render/images.js';
import { imageCreated, type RegistryOptions } from '../remote/registry.js';

/** How release `a` stands to release `b`. */
export type Relation = 'same' | 'newer' | 'older' | 'unordered';

export interface Ordering {
  relation: Relation;
  /** What decided it. */
  by?: 'semver' | 'created';
  /** For `unordered`: why no order could be told; for `created`: both times. */
  why?: string;
}

/** A tag as a semantic version (`1.2.3`, `v1.2.3`, `1.2.3-rc.1`), or undefined. */
export function semverOf(tag: string | undefined): semver.SemVer | undefined {
  if (!tag) return undefined;
  return semver.parse(tag) ?? undefined;
}

/** Looks up the build time of an image digest; undefined when unknown. Failures are reasons, not errors. */
export type CreatedLookup = (name: string, digest: string) => Promise<{ created?: string; error?: string }>;

/** Build times from the registry, each digest asked once per run. */
export function registryCreated(opts: RegistryOptions): CreatedLookup {
  const cache = new Map<string, Promise<{ created?: string; error?: string }>>();
  return (name, digest) => {
    const key = `${name}@${digest}`;
    let p = cache.get(key);
    if (!p) {
      p = imageCreated(name, digest, opts).then(
        (created) => (created ? { created } : { error: `the image config of ${name}@${digest.slice(0, 19)} records no creation time` }),
        (e: Error) => ({ error: e.message.split('\n')[0] }),
      );
      cache.set(key, p);
    }
    return p;
  };
}

/**
 * Orders release `a` against release `b` of image `name`. Semver decides when both tags are
 * semver and differ; then the digests' build times (when both are pinned by digest and `lookup`
 * is given); otherwise `unordered`.
 */
export async function compareReleases(name: string, a: Pin | undefined, b: Pin | undefined, lookup?: CreatedLookup): Promise<Ordering> {
  if (sameRelease(a, b)) return { relation: 'same' };
  const va = semverOf(a?.tag);
  const vb = semverOf(b?.tag);
  if (va && vb) {
    const c = semver.compare(va, vb);
    if (c !== 0) return { relation: c > 0 ? 'newer' : 'older', by: 'semver' };
  }
  const reasons: string[] = [];
  if (!(va && vb)) reasons.push(`${[a, b].filter((p) => !semverOf(p?.tag)).map((p) => formatPin(p)).join(' and ')} ${[a, b].filter((p) => !semverOf(p?.tag)).length === 1 ? 'is' : 'are'} not semver`);
  else reasons.push(`both are version ${va.version}`);
  if (!a?.digest || !b?.digest) {
    reasons.push('a build time needs both pinned by digest');
    return { relation: 'unordered', why: reasons.join('; ') };
  }
  if (!lookup) {
    reasons.push('build times not looked up');
    return { relation: 'unordered', why: reasons.join('; ') };
  }
  const [ca, cb] = await Promise.all([lookup(name, a.digest), lookup(name, b.digest)]);
  if (!ca.created || !cb.created) {
    reasons.push(ca.error ?? cb.error ?? 'no build time');
    return { relation: 'unordered', why: reasons.join('; ') };
  }
  const ta = Date.parse(ca.created);
  const tb = Date.parse(cb.created);
  if (ta === tb) {
    reasons.push(`both built at ${ca.created}`);
    return { relation: 'unordered', why: reasons.join('; ') };
  }
  return { relation: ta > tb ? 'newer' : 'older', by: 'created', why: `built ${ca.created} vs ${cb.created}` };
}

/** Orders two version strings (Helm chart versions): by semver, else unordered. */
export function compareVersions(a: string, b: string): Ordering {
  if (a === b) return { relation: 'same' };
  const va = semverOf(a);
  const vb = semverOf(b);
  if (va && vb && semver.compare(va, vb) !== 0) return { relation: semver.compare(va, vb) > 0 ? 'newer' : 'older', by: 'semver' };
  const not = [a, b].filter((v) => !semverOf(v));
  return { relation: 'unordered', why: va && vb ? `both are version ${va.version}` : `${not.join(' and ')} ${not.length === 1 ? 'is' : 'are'} not semver` };
}

/** `1.2.0 (semver)` style explanation of an ordering, for messages. */
export function describeOrdering(o: Ordering): string {
  if (o.by === 'semver') return 'by semantic version';
  if (o.by === 'created') return `by registry build time (${o.why})`;
  return o.why ? `cannot be ordered: ${o.why}` : '';
}
