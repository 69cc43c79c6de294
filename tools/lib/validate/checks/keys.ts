// What the API server accepts but keeps a pod from starting or ever becoming ready:
// - `missing-key`: an env var (valueFrom) or a volume's `items` reading a key the referenced
//   ConfigMap or Secret does not carry (the pod stays in CreateContainerConfigError /
//   ContainerCreating), unless the reference is optional;
// - `probe-port`: a probe naming a port the container does not declare (never ready / restarted).
// Keys come from rendered ConfigMaps and Secrets, ExternalSecrets' target keys, and for Secrets
// made by hand (gitops.yaml external) from the secret.env.example that lists them.
import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Finding } from '../../core/finding.js';
import { allContainers, finding, podTemplateOf, type ClusterView, type Entry } from './common.js';

/** Keys of a Secret made outside git, from the `secret.env.example` that documents it. */
export interface ExampleKeys {
  /** Repo-relative path of the example file. */
  file: string;
  keys: Set<string>;
}

/**
 * Why a secret.env.example must not be read: a symlink (or a path) that leaves the repository
 * could show the key names of any file on the machine in the findings. Undefined when it is fine.
 */
export async function exampleRefusal(root: string, file: string): Promise<string | undefined> {
  const abs = path.join(root, file);
  const [realRoot, real] = await Promise.all([realpath(root).catch(() => root), realpath(abs).catch(() => undefined)]);
  if (!real) return (await lstat(abs).then((st) => st.isSymbolicLink(), () => false)) ? 'is a dangling symlink' : undefined;
  const rel = path.relative(realRoot, real);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return 'leaves the repository through a symlink';
  if (rel.split(path.sep).includes('.git')) return 'points into .git';
  return undefined;
}

/** Parses a secret.env.example: `KEY=...` lines; its first comment names the Secret ("Keys of Secret `name`"). */
export function parseEnvExample(text: string): { secret?: string; keys: Set<string> } {
  const secret = /Keys of Secret `([^`]+)`/.exec(text)?.[1];
  const keys = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([^#=\s][^=\s]*)\s*=/.exec(line);
    if (m) keys.add(m[1]);
  }
  return { secret, keys };
}

/** `Kind/namespace/name` -> keys, or 'unknown' when they cannot be known (dataFrom, templates from elsewhere). */
type KeyIndex = Map<string, Set<string> | 'unknown'>;

function keysOf(view: ClusterView): KeyIndex {
  const out: KeyIndex = new Map();
  const add = (id: string, keys: Set<string> | 'unknown') => {
    const prev = out.get(id);
    if (prev === 'unknown' || keys === 'unknown') out.set(id, 'unknown');
    else out.set(id, new Set([...(prev ?? []), ...keys]));
  };
  for (const e of view.entries) {
    if (!e.ns) continue;
    const o = e.o as { kind: string; data?: Record<string, unknown>; binaryData?: Record<string, unknown>; stringData?: Record<string, unknown>; spec?: unknown; metadata: { name?: string } };
    if (e.group === '' && o.kind === 'ConfigMap') add(`ConfigMap/${e.ns}/${o.metadata.name}`, new Set([...Object.keys(o.data ?? {}), ...Object.keys(o.binaryData ?? {})]));
    if (e.group === '' && o.kind === 'Secret') add(`Secret/${e.ns}/${o.metadata.name}`, new Set([...Object.keys(o.data ?? {}), ...Object.keys(o.stringData ?? {})]));
    if (e.group === 'external-secrets.io' && o.kind === 'ExternalSecret') {
      const spec = (o.spec ?? {}) as {
        target?: { name?: string; template?: { data?: Record<string, unknown>; templateFrom?: unknown[]; mergePolicy?: string } };
        data?: Array<{ secretKey?: string }>;
        dataFrom?: unknown[];
      };
      const id = `Secret/${e.ns}/${spec.target?.name || o.metadata.name}`;
      const declared = new Set((spec.data ?? []).map((d) => d.secretKey).filter((k): k is string => !!k));
      const tpl = spec.target?.template;
      if (spec.dataFrom?.length || tpl?.templateFrom?.length) add(id, 'unknown'); // keys decided by the provider
      else if (tpl?.data) add(id, new Set([...Object.keys(tpl.data), ...(tpl.mergePolicy === 'Merge' ? declared : [])]));
      else add(id, declared);
    }
  }
  return out;
}

interface KeyRef {
  kind: 'Secret' | 'ConfigMap';
  name: string;
  key: string;
  pointer: string;
}

/** Every non-optional key a pod template reads from a ConfigMap or Secret. */
export function keyReferences(e: Entry): KeyRef[] {
  const t = podTemplateOf(e.o);
  if (!t) return [];
  const refs: KeyRef[] = [];
  type Ref = { name?: string; key?: string; optional?: boolean };
  type Items = { name?: string; secretName?: string; optional?: boolean; items?: Array<{ key?: string }> };
  const items = (kind: KeyRef['kind'], src: Items | undefined, pointer: string) => {
    const name = src?.name ?? src?.secretName;
    if (!name || src?.optional) return;
    for (const [i, it] of (src?.items ?? []).entries()) if (it.key) refs.push({ kind, name, key: it.key, pointer: `${t.pointer}${pointer}/items/${i}/key` });
  };
  for (const { c, list, i } of allContainers(t.spec)) {
    for (const [j, env] of (c.env ?? []).entries()) {
      const vf = env.valueFrom as { secretKeyRef?: Ref; configMapKeyRef?: Ref } | undefined;
      for (const [kind, ref, field] of [['Secret', vf?.secretKeyRef, 'secretKeyRef'], ['ConfigMap', vf?.configMapKeyRef, 'configMapKeyRef']] as const) {
        if (ref?.name && ref.key && !ref.optional) refs.push({ kind, name: ref.name, key: ref.key, pointer: `${t.pointer}/${list}/${i}/env/${j}/valueFrom/${field}/key` });
      }
    }
  }
  for (const [i, v] of (t.spec.volumes ?? []).entries()) {
    const vol = v as { secret?: Items; configMap?: Items; projected?: { sources?: Array<{ secret?: Items; configMap?: Items }> } };
    items('Secret', vol.secret, `/volumes/${i}/secret`);
    items('ConfigMap', vol.configMap, `/volumes/${i}/configMap`);
    for (const [j, s] of (vol.projected?.sources ?? []).entries()) {
      items('Secret', s.secret, `/volumes/${i}/projected/sources/${j}/secret`);
      items('ConfigMap', s.configMap, `/volumes/${i}/projected/sources/${j}/configMap`);
    }
  }
  return refs;
}

/**
 * `missing-key`. `examples`: Secrets made by hand, by `namespace/name`, with the keys their
 * secret.env.example lists (only for entries of gitops.yaml external).
 */
export function checkKeys(view: ClusterView, examples: Map<string, ExampleKeys> = new Map()): Finding[] {
  const index = keysOf(view);
  const findings: Finding[] = [];
  for (const e of view.entries) {
    if (!e.ns) continue;
    for (const ref of keyReferences(e)) {
      const id = `${ref.kind}/${e.ns}/${ref.name}`;
      const known = index.get(id);
      const example = ref.kind === 'Secret' && known === undefined ? examples.get(`${e.ns}/${ref.name}`) : undefined;
      const keys = known ?? example?.keys;
      if (keys === undefined || keys === 'unknown' || keys.has(ref.key)) continue; // a missing object is missing-reference's
      const from = example ? `${example.file} (the keys of the hand-made Secret)` : 'the rendered object';
      const list = [...keys].sort().join(', ') || 'none';
      findings.push(finding(e, 'missing-key', 'error', `${id} has no key '${ref.key}' (keys in ${from}: ${list}): the pod would not start; add the key, fix the name, or mark the reference optional: true`, ref.pointer));
    }
  }
  return findings;
}

/** `probe-port`: a probe's named port that the container does not declare. */
export function checkProbePorts(view: ClusterView): Finding[] {
  const findings: Finding[] = [];
  for (const e of view.entries) {
    const t = podTemplateOf(e.o);
    if (!t) continue;
    for (const { c, list, i } of allContainers(t.spec)) {
      const probes = c as { livenessProbe?: unknown; readinessProbe?: unknown; startupProbe?: unknown; ports?: Array<{ name?: string }> };
      for (const kind of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
        const p = probes[kind] as { httpGet?: { port?: unknown }; tcpSocket?: { port?: unknown } } | undefined;
        for (const handler of ['httpGet', 'tcpSocket'] as const) {
          const port = p?.[handler]?.port;
          if (typeof port !== 'string' || /^\d+$/.test(port)) continue;
          if ((probes.ports ?? []).some((cp) => cp.name === port)) continue;
          const declared = (probes.ports ?? []).map((cp) => cp.name).filter(Boolean).join(', ') || 'none';
          findings.push(finding(e, 'probe-port', 'error', `${kind} of container ${c.name ?? i} uses port '${port}', which the container does not declare (named ports: ${declared}): the probe can never succeed`, `${t.pointer}/${list}/${i}/${kind}/${handler}/port`));
        }
      }
    }
  }
  return findings;
}
