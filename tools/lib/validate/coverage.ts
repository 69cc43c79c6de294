// Nothing passes silently: YAML under the folders the layout says hold manifests (overlay roots,
// cluster entry points) that no rendered target reads is reported, as is a run that checked
// nothing.
import path from 'node:path';
import type { AppOverlay } from '../config/apps.js';
import { runRepoTree } from '../argocd/argocd.js';
import { entryPoint, type Config, type Environment } from '../config/config.js';
import { compilePattern, KUSTOMIZATION_NAMES } from '../config/layout.js';
import { REMOTE } from '../render/kustomize.js';
import type { Rendered } from '../render/rendered.js';
import type { Finding } from '../core/finding.js';

const isManifest = (f: string) => /\.ya?ml$/.test(f) || KUSTOMIZATION_NAMES.includes(path.posix.basename(f));

/**
 * The folders whose YAML some target should read: each overlay pattern's fixed prefix (for a
 * pattern starting with a wildcard, the top folders of the overlays it matched) and each
 * cluster entry point.
 */
export function layoutRoots(config: Config, envs: Environment[], apps: AppOverlay[]): string[] {
  const roots = new Set<string>();
  for (const env of envs) {
    for (const pattern of env.overlays) {
      const prefix = compilePattern(pattern).prefix;
      if (prefix) roots.add(prefix);
      else for (const a of apps.filter((x) => x.env === env)) roots.add(a.dir.split('/')[0]);
    }
    const ep = entryPoint(config, env.cluster);
    if (ep !== null) roots.add(ep);
  }
  return [...roots].sort();
}

/**
 * `unrendered-file` warnings, one per folder, for manifests under the layout roots that no
 * rendered target reads: a resource nobody listed, a patch nobody applies, Argo CD objects
 * beside an entry point that does not include them.
 */
export async function unrenderedFindings(config: Config, roots: string[], rendered: Array<Pick<Rendered, 'closure'>>): Promise<Finding[]> {
  if (!roots.length) return [];
  const read = new Set(rendered.flatMap((r) => r.closure).filter((f) => f !== REMOTE));
  const under = (f: string) => roots.some((r) => f === r || f.startsWith(`${r}/`));
  const tree = await runRepoTree(config);
  const byDir = new Map<string, string[]>();
  for (const f of tree.files) {
    if (!under(f) || !isManifest(f) || read.has(f)) continue;
    const dir = path.posix.dirname(f);
    byDir.set(dir, [...(byDir.get(dir) ?? []), path.posix.basename(f)]);
  }
  return [...byDir].map(([dir, names]) => ({
    severity: 'warning' as const,
    rule: 'unrendered-file',
    overlay: dir,
    resource: '',
    file: `${dir}/${names[0]}`,
    message: `${names.slice(0, 10).join(', ')}${names.length > 10 ? ` and ${names.length - 10} more` : ''} in ${dir} ${names.length === 1 ? 'is' : 'are'} read by no overlay or cluster entry point, so never rendered nor checked: list ${names.length === 1 ? 'it' : 'them'} in a kustomization, or delete ${names.length === 1 ? 'it' : 'them'}`,
  }));
}
