// npm run scale <app> <env> <replicas>: a kustomize `replicas:` entry in the overlay (never the base), as a PR.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseWholeNumber } from '../lib/cli/args.js';
import { UsageError } from '../lib/core/errors.js';
import { editYaml, setReplicas } from '../lib/render/images.js';
import type { K8sObject } from '../lib/core/k8s.js';
import { readOverlay, release, renderApp, resolveTarget, type ReleaseCommonOptions, type ReleaseResult } from '../lib/release/release.js';

export interface ScaleOptions extends ReleaseCommonOptions {
  app: string;
  env: string;
  replicas: number | string;
  /** Workload name when the app has several Deployments/StatefulSets. */
  workload?: string;
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'ReplicaSet']);
export const MAX_REPLICAS = 1000;

/** Autoscalers (HPA, KEDA ScaledObject) whose scaleTargetRef points at the workload. */
export function autoscalersOf(objects: K8sObject[], w: K8sObject): K8sObject[] {
  return objects.filter((o) => {
    if (o.kind !== 'HorizontalPodAutoscaler' && o.kind !== 'ScaledObject') return false;
    const ref = (o as { spec?: { scaleTargetRef?: { kind?: string; name?: string } } }).spec?.scaleTargetRef;
    return ref?.name === w.metadata.name && (ref?.kind ?? 'Deployment') === w.kind;
  });
}

export function parseReplicas(value: number | string): number {
  return parseWholeNumber(value, 'replicas', 0, MAX_REPLICAS);
}

export async function scale(opts: ScaleOptions): Promise<ReleaseResult> {
  const envVars = opts.envVars ?? process.env;
  const count = parseReplicas(opts.replicas);
  const { app } = await resolveTarget(opts.cwd, opts.app, opts.env, envVars, { command: 'scale' });
  return release(
    {
      kind: 'scale',
      appId: app.id,
      env: app.env.name,
      async edit(ctx) {
        const objects = await renderApp(ctx.config, ctx.app, ctx.envVars);
        const workloads = objects.filter((o) => WORKLOAD_KINDS.has(o.kind));
        const names = workloads.map((w) => `${w.kind}/${w.metadata.name}`);
        let w: K8sObject | undefined;
        if (opts.workload) {
          w = workloads.find((x) => x.metadata.name === opts.workload);
          if (!w) throw new UsageError(`${ctx.app.id} in ${ctx.app.env.name} has no workload '${opts.workload}'; it has: ${names.join(', ') || '(none)'}`);
        } else if (workloads.length === 1) w = workloads[0];
        else w = workloads.find((x) => x.metadata.name === ctx.app.slug);
        if (!w) {
          throw new UsageError(
            workloads.length ? `${ctx.app.id} has several workloads (${names.join(', ')}); say which one with --workload NAME` : `${ctx.app.id} in ${ctx.app.env.name} renders no Deployment or StatefulSet to scale`,
          );
        }
        const scalers = autoscalersOf(objects, w);
        if (scalers.length) {
          const h = scalers[0]! as { kind: string; metadata: { name?: string }; spec?: { minReplicas?: number; maxReplicas?: number; minReplicaCount?: number; maxReplicaCount?: number } };
          const min = h.spec?.minReplicas ?? h.spec?.minReplicaCount;
          const max = h.spec?.maxReplicas ?? h.spec?.maxReplicaCount;
          throw new UsageError(
            `${w.kind} ${w.metadata.name} of ${ctx.app.id} in ${ctx.app.env.name} is managed by ${h.kind} ${h.metadata.name} (min ${min ?? '?'}, max ${max ?? '?'}); a replicas count would be overridden by the autoscaler`,
            `change the ${h.kind === 'HorizontalPodAutoscaler' ? 'HPA' : h.kind}'s ${h.kind === 'HorizontalPodAutoscaler' ? 'minReplicas/maxReplicas' : 'minReplicaCount/maxReplicaCount'} instead (with a patch in ${ctx.app.dir}/kustomization.yaml for this environment only)`,
          );
        }
        const current = (w as { spec?: { replicas?: number } }).spec?.replicas;
        if ((current ?? 1) === count) return null;
        const overlay = await readOverlay(ctx.root, ctx.app);
        const name = w.metadata.name!;
        const text = editYaml(overlay.file, overlay.text, (doc) => {
          setReplicas(doc, overlay.file, name, count);
        });
        // Prove kustomize applies the entry (a name it does not match would be silently ignored).
        await writeFile(path.join(ctx.root, overlay.file), text);
        const after = (await renderApp(ctx.config, ctx.app, ctx.envVars)).find((o) => o.kind === w!.kind && o.metadata.name === name) as { spec?: { replicas?: number } } | undefined;
        if (after?.spec?.replicas !== count) {
          throw new UsageError(`${overlay.file}: kustomize did not apply replicas entry '${name}' (rendered ${after?.spec?.replicas ?? 'none'}); is the workload renamed by a namePrefix or suffix?`);
        }
        const from = current === undefined ? 'unset (1)' : String(current);
        return {
          files: { [overlay.file]: text },
          title: `scale ${ctx.app.id} in ${ctx.app.env.name}: ${w.kind} ${name} ${from} -> ${count} replicas`,
          changes: [{ what: `replicas of ${w.kind} ${name}`, from, to: String(count) }],
        };
      },
    },
    { ...opts, envVars },
  );
}
