// The CRD manifests a cluster runs (gitops.yaml clusters.<c>.apiServer.crds), for the local API
// server: read from GITOPS_CRD_MIRROR (<name>/<version>/<file>), else downloaded once from
// upstream into .cache/crds with the same layout.
import { statSync, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config, CrdSet } from '../config/config.js';
import { ConfigError, GitopsError } from '../core/errors.js';
import { parseStream, type K8sObject } from '../core/k8s.js';
import { cachingEnabled, RACY_MS, sha, statSig, writeAtomic } from '../core/workspace.js';

/** Upstream files of the operators this repository's clusters run, at tag {version}. */
export const KNOWN_CRDS: Record<string, string[]> = {
  'argo-cd': ['application', 'applicationset', 'appproject'].map((n) => `https://raw.githubusercontent.com/argoproj/argo-cd/{version}/manifests/crds/${n}-crd.yaml`),
  'cert-manager': [
    'acme.cert-manager.io_challenges',
    'acme.cert-manager.io_orders',
    'cert-manager.io_certificaterequests',
    'cert-manager.io_certificates',
    'cert-manager.io_clusterissuers',
    'cert-manager.io_issuers',
  ].map((n) => `https://raw.githubusercontent.com/cert-manager/cert-manager/{version}/deploy/crds/${n}.yaml`),
  'external-secrets': ['https://raw.githubusercontent.com/external-secrets/external-secrets/{version}/deploy/crds/bundle.yaml'],
};

/** Download timeout per file: a hung connection must not hang validate. */
const FETCH_TIMEOUT_MS = 30_000;

export class CrdError extends GitopsError {}

export function crdUrls(set: CrdSet): string[] {
  const urls = set.urls ?? KNOWN_CRDS[set.name];
  if (!urls && set.urlsRefused) throw new CrdError(`CRD set '${set.name}': its urls come from the change under validation, which does not choose what is fetched for its own validation, and it has no known upstream location`, 'declare the CRD set (with its urls) on the default branch first, or validate with GITOPS_CRD_MIRROR pointing at a folder holding it');
  if (!urls) throw new ConfigError('gitops.yaml', `clusters.*.apiServer.crds: '${set.name}' has no known upstream location; give its urls`);
  return urls.map((u) => u.replaceAll('{version}', set.version));
}

/** Where a CRD file lives in a mirror or in the download cache. */
function mirrorPath(root: string, set: CrdSet, url: string): string {
  return path.join(root, set.name, set.version, path.basename(new URL(url).pathname));
}

async function download(url: string, dest: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (e) {
    throw new CrdError(`downloading ${url} failed: ${(e as Error).message}`, 'offline? set GITOPS_CRD_MIRROR to a folder of <name>/<version>/<file> CRD manifests, or run with --no-server');
  }
  if (!res.ok) throw new CrdError(`downloading ${url} failed: HTTP ${res.status}`, 'check the name, version and urls of the CRD set in gitops.yaml clusters.*.apiServer.crds');
  const text = await res.text();
  await writeAtomic(dest, text); // a concurrent run never reads half a file
  return text;
}

/** The CustomResourceDefinition objects of one CRD set. */
export async function loadCrdSet(config: Config, set: CrdSet): Promise<K8sObject[]> {
  const out: K8sObject[] = [];
  for (const url of crdUrls(set)) {
    let file: string;
    if (config.crdMirror) {
      file = mirrorPath(config.crdMirror, set, url);
      if (!statSync(file, { throwIfNoEntry: false })?.isFile()) throw new CrdError(`CRD set ${set.name} ${set.version}: ${file} not found in GITOPS_CRD_MIRROR`, `the mirror needs <name>/<version>/${path.basename(file)} (upstream: ${url})`);
    } else {
      file = mirrorPath(path.join(config.root, '.cache', 'crds'), set, url);
      if (!statSync(file, { throwIfNoEntry: false })?.isFile()) await download(url, file);
    }
    out.push(...(await parsedCrds(config, file)));
  }
  if (!out.length) throw new CrdError(`CRD set ${set.name} ${set.version} holds no CustomResourceDefinition`);
  return out;
}

// Parsing a CRD bundle's YAML takes about half a second (megabytes of schema), every cluster of
// every run: parsed once per content in the process, and kept as JSON in .cache/crds/parsed.
const parsed = new Map<string, Promise<K8sObject[]>>();

function parsedCrds(config: Config, file: string): Promise<K8sObject[]> {
  // By path and signature: a file rewritten while the process runs (a test, a long rehearsal) is read again.
  const st = statSync(file);
  const id = `${file}\0${statSig(st)}`;
  let p = parsed.get(id);
  if (!p) {
    p = (async () => {
      const { key, text } = await contentKey(config, file, st);
      const cache = path.join(config.root, '.cache', 'crds', 'parsed', `${key}.json`);
      const hit = cachingEnabled() ? await readFile(cache, 'utf8').then((t) => JSON.parse(t) as K8sObject[], () => undefined) : undefined;
      if (hit) return hit;
      const objects = parseStream(text ?? (await readFile(file, 'utf8'))).filter((o) => o.kind === 'CustomResourceDefinition');
      if (cachingEnabled()) await writeAtomic(cache, JSON.stringify(objects)).catch(() => {}); // a read-only checkout just parses again
      return objects;
    })();
    parsed.set(id, p);
  }
  return p; // shared, read-only: the CRDs are only serialised and filtered
}

/**
 * A CRD file's content hash, by its stat signature while that is unchanged (kept in
 * .cache/crds/hashes.json): a warm run neither reads nor hashes megabytes of CRD bundles.
 * `text` is the content when it had to be read.
 */
async function contentKey(config: Config, file: string, st: Stats): Promise<{ key: string; text?: string }> {
  const memoFile = path.join(config.root, '.cache', 'crds', 'hashes.json');
  const sig = statSig(st);
  const memo = await (keyMemo.get(memoFile) ?? keyMemo.set(memoFile, loadKeyMemo(memoFile)).get(memoFile)!);
  if (memo[file]?.sig === sig) return { key: memo[file].key };
  const text = await readFile(file, 'utf8');
  const key = sha(text);
  if (cachingEnabled() && Date.now() - st.mtimeMs > RACY_MS) {
    memo[file] = { sig, key };
    await writeAtomic(memoFile, JSON.stringify(memo)).catch(() => {}); // every update so far: concurrent writers lose none
  }
  return { key, text };
}

const keyMemo = new Map<string, Promise<Record<string, { sig: string; key: string }>>>();

async function loadKeyMemo(file: string): Promise<Record<string, { sig: string; key: string }>> {
  if (!cachingEnabled()) return {};
  return readFile(file, 'utf8').then((t) => JSON.parse(t) as Record<string, { sig: string; key: string }>, () => ({}));
}
