// The real Argo CD (the pinned multicall binary, tools/go/argocd) against a simulated cluster:
// Redis (Debian's redis-server), repo-server, application-controller and
// applicationset-controller, out of cluster, each on 127.0.0.1 ports of its own. The controllers
// read the cluster through its kubeconfig (ARGOCD_FAKE_IN_CLUSTER: `https://kubernetes.default.svc`
// is that cluster), the repo-server runs the pinned kustomize and Debian's git from PATH.
import { symlink, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config, CrdSet } from '../config/config.js';
import { GitopsError } from '../core/errors.js';
import { isExecutable, pinnedVersion, toolsDir, GO_TOOLS } from '../core/tools.js';
import { run } from '../core/exec.js';
import { loadCrdSet } from './crds.js';
import { statusMessage } from './kubeclient.js';
import type { RunDir, Spawned } from './rundir.js';
import { freePort, listening } from './ports.js';
import type { SimCluster } from './simcluster.js';

export class ArgoCdSimError extends GitopsError {}

export interface ArgoBinaries {
  argocd: string;
  kustomize: string;
  redis: string;
}

export async function findArgoBinaries(env: NodeJS.ProcessEnv = process.env): Promise<ArgoBinaries | { missing: string }> {
  const dir = toolsDir(env);
  const argocd = path.join(dir, 'argocd');
  const kustomize = path.join(dir, 'kustomize');
  for (const b of [argocd, kustomize]) if (!(await isExecutable(b))) return { missing: `${path.basename(b)} not found at ${b} (run: npm run setup)` };
  const r = await run('sh', ['-c', 'command -v redis-server'], { allowFailure: true });
  if (r.code !== 0) return { missing: 'redis-server not found on PATH (run as root: npm run setup -- --rehearse, or apt-get install redis-server)' };
  return { argocd, kustomize, redis: r.stdout.trim() };
}

// The image ships these in /usr/local/bin and the repo-server runs git-verify-wrapper.sh on every
// manifest generation (argo-cd hack/*.sh; GPG verification itself is off here).
const GIT_VERIFY_WRAPPER = `#!/bin/sh
# argo-cd v3 hack/git-verify-wrapper.sh: signature output of a commit or annotated tag, exit 0 when unsigned.
[ -n "$1" ] || { echo "Wrong usage of git-verify-wrapper.sh" >&2; exit 1; }
if git describe --exact-match "$1" >/dev/null 2>&1; then OUTPUT=$(git verify-tag "$1" 2>&1); RET=$?; TYPE=tag
else OUTPUT=$(git verify-commit "$1" 2>&1); RET=$?; TYPE=commit; fi
case "$RET" in
0) echo "$OUTPUT" ;;
1) if [ "$TYPE" = tag ] && [ "\${OUTPUT%%:*}" = error ]; then OUTPUT=""; fi; echo "$OUTPUT"; RET=0 ;;
*) echo "$OUTPUT" >&2 ;;
esac
exit $RET
`;
const GPG_WRAPPER = `#!/bin/sh
# argo-cd v3 hack/gpg-wrapper.sh: gpg, exit 0 on a verification failure.
OUTPUT=$(gpg "$@" 2>&1); RET=$?
case "$RET" in 0|1) echo "$OUTPUT"; RET=0 ;; *) echo "$OUTPUT" >&2 ;; esac
exit $RET
`;

/** The minimum an out-of-cluster Argo CD (no argocd-server) needs in its namespace. */
function configObjects(): Array<Record<string, unknown>> {
  const labels = (n: string) => ({ 'app.kubernetes.io/name': n, 'app.kubernetes.io/part-of': 'argocd' });
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'argocd' } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'argocd-cm', namespace: 'argocd', labels: labels('argocd-cm') }, data: { 'application.resourceTrackingMethod': 'annotation' } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'argocd-rbac-cm', namespace: 'argocd', labels: labels('argocd-rbac-cm') } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'argocd-cmd-params-cm', namespace: 'argocd', labels: labels('argocd-cmd-params-cm') } },
    // Not a credential: a simulated Argo CD's server key that nothing outside this run sees.
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'argocd-secret', namespace: 'argocd', labels: labels('argocd-secret') }, type: 'Opaque', stringData: { 'server.secretkey': 'rehearsal-only-0123456789abcdef' } },
    // argocd-server would create it on start; nothing else does.
    { apiVersion: 'argoproj.io/v1alpha1', kind: 'AppProject', metadata: { name: 'default', namespace: 'argocd' }, spec: { sourceRepos: ['*'], destinations: [{ namespace: '*', server: '*' }], clusterResourceWhitelist: [{ group: '*', kind: '*' }] } },
  ];
}

async function waitPort(port: number, deadline: number, check: () => Promise<void>, what: string): Promise<void> {
  for (;;) {
    await check();
    const ok = await listening(port);
    if (ok) return;
    if (Date.now() > deadline) throw new ArgoCdSimError(`${what} not listening on 127.0.0.1:${port} in time`);
    await sleep(200);
  }
}

/** CRD sets the cluster declares, plus Argo CD's own at the pinned version when not declared. */
export async function argoCrdSets(config: Config, cluster: string): Promise<CrdSet[]> {
  const sets = [...(config.apiServers[cluster]?.crds ?? [])];
  if (!sets.some((s) => s.name === 'argo-cd')) sets.push({ name: 'argo-cd', version: await pinnedVersion(GO_TOOLS.find((t) => t.name === 'argocd')!) });
  return sets;
}

export class ArgoCdSim {
  readonly timings: Record<string, number> = {};
  private readonly procs: Spawned[] = [];

  private constructor(readonly cluster: SimCluster, private readonly run: RunDir) {}

  static async start(opts: { config: Config; cluster: SimCluster; run: RunDir; bins: ArgoBinaries; timeoutMs?: number }): Promise<ArgoCdSim> {
    const t0 = Date.now();
    const { cluster, run: rd, bins } = opts;
    const a = new ArgoCdSim(cluster, rd);
    try {
      const crds = (await Promise.all((await argoCrdSets(opts.config, cluster.name)).map((s) => loadCrdSet(opts.config, s)))).flat();
      await cluster.api.applyCrds(crds);
      for (const o of configObjects()) {
        const p = await cluster.client.objectPath(o as never, 'argocd');
        const res = await cluster.client.apply(p!.path, o as never, { dryRun: false, fieldManager: 'gitops-rehearse' });
        if (res.status >= 300) throw new ArgoCdSimError(`Argo CD config ${o.kind} refused: ${statusMessage(res.body)}`);
      }
      a.timings.crdsMs = Date.now() - t0;
      const home = path.join(rd.dir, `argocd-${cluster.name}`);
      const bin = path.join(home, 'bin');
      for (const d of ['bin', 'tls', 'ssh', 'gpg', 'plugins', 'tmp', 'home']) await mkdir(path.join(home, d), { recursive: true });
      for (const c of ['argocd-repo-server', 'argocd-application-controller', 'argocd-applicationset-controller']) await symlink(bins.argocd, path.join(bin, c));
      await symlink(bins.kustomize, path.join(bin, 'kustomize'));
      await writeFile(path.join(bin, 'git-verify-wrapper.sh'), GIT_VERIFY_WRAPPER, { mode: 0o755 });
      await writeFile(path.join(bin, 'gpg-wrapper.sh'), GPG_WRAPPER, { mode: 0o755 });
      const env = {
        PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        HOME: path.join(home, 'home'),
        KUBECONFIG: cluster.kubeconfig,
        ARGOCD_FAKE_IN_CLUSTER: 'true',
        ARGOCD_TLS_DATA_PATH: path.join(home, 'tls'),
        ARGOCD_SSH_DATA_PATH: path.join(home, 'ssh'),
        ARGOCD_GNUPGHOME: path.join(home, 'gpg'),
        ARGOCD_GPG_ENABLED: 'false',
        ARGOCD_PLUGINSOCKFILEPATH: path.join(home, 'plugins'),
        TMPDIR: path.join(home, 'tmp'),
        GOMEMLIMIT: '300MiB',
      };
      const [redisPort, repoPort] = [await freePort(), await freePort()];
      const name = (c: string) => `${cluster.name}-${c}`;
      a.procs.push(rd.spawn(name('redis'), bins.redis, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { env }));
      const redis = `127.0.0.1:${redisPort}`;
      const repo = `127.0.0.1:${repoPort}`;
      a.procs.push(rd.spawn(name('repo-server'), path.join(bin, 'argocd-repo-server'), ['--address', '127.0.0.1', '--port', String(repoPort), '--metrics-address', '127.0.0.1', '--metrics-port', String(await freePort()), '--redis', redis, '--loglevel', 'info'], { env }));
      // The application controller's live heap passes 300MiB with this repository's Applications
      // (its cluster cache holds every object): at 300MiB it collected without pause.
      a.procs.push(rd.spawn(name('application-controller'), path.join(bin, 'argocd-application-controller'), ['--kubeconfig', cluster.kubeconfig, '--redis', redis, '--repo-server', repo,
        '--metrics-port', String(await freePort()), '--app-resync', '20', '--app-resync-jitter', '0', '--status-processors', '4', '--operation-processors', '4', '--loglevel', 'info',
        // Each resource's health in the Application (v3 keeps it only in Redis otherwise): the report names the object.
        '--persist-resource-health'], { env: { ...env, GOMEMLIMIT: '600MiB' } }));
      a.procs.push(rd.spawn(name('applicationset-controller'), path.join(bin, 'argocd-applicationset-controller'), ['--argocd-repo-server', repo,
        '--metrics-addr', `127.0.0.1:${await freePort()}`, '--probe-addr', `127.0.0.1:${await freePort()}`, '--webhook-addr', `127.0.0.1:${await freePort()}`, '--loglevel', 'info'], { env }));
      const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
      await waitPort(repoPort, deadline, () => a.checkAlive(), 'argocd-repo-server');
      a.timings.upMs = Date.now() - t0;
      return a;
    } catch (e) {
      await a.stop();
      throw e;
    }
  }

  async checkAlive(): Promise<void> {
    for (const p of this.procs) await this.run.check(p).catch((e) => {
      throw new ArgoCdSimError(`Argo CD on ${this.cluster.name}: ${(e as Error).message}`);
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => this.run.kill(p)));
  }
}
