// Stage timings of a run on stderr with GITOPS_TIMING=1 (what `npm run bench` profiles).
import { performance } from 'node:perf_hooks';

const on = !!process.env.GITOPS_TIMING;
let last = performance.now();

export function mark(stage: string): void {
  if (!on) return;
  const now = performance.now();
  process.stderr.write(`timing ${stage.padEnd(28)} ${(now - last).toFixed(0).padStart(6)} ms  (at ${now.toFixed(0)} ms)\n`);
  last = now;
}
