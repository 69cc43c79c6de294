// Long fuzz run of the overlay edits (npm run fuzz [-- COUNT [FIRST_SEED]]): generated
// kustomizations in many layouts, one random edit each, the byte-preservation properties checked.
// The test suite runs a short, fixed slice of the same seeds; this goes further. Prints the seed of
// the first failure, which `checkOneEdit(seed)` replays.
import { checkOneEdit } from '../test/kustomization-gen.js';

const count = Number(process.argv[2] ?? 20_000);
const first = Number(process.argv[3] ?? 1_000_000);
if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(first)) {
  process.stderr.write('usage: npm run fuzz -- [COUNT] [FIRST_SEED]\n');
  process.exit(2);
}
const t0 = performance.now();
const ops = new Map<string, number>();
for (let seed = first; seed < first + count; seed++) {
  try {
    const op = checkOneEdit(seed);
    ops.set(op, (ops.get(op) ?? 0) + 1);
  } catch (e) {
    process.stderr.write(`seed ${seed} failed:\n${(e as Error).message}\n`);
    process.exit(1);
  }
}
const ms = performance.now() - t0;
process.stdout.write(`${count} edits from seed ${first} passed in ${(ms / 1000).toFixed(1)} s (${[...ops].map(([k, v]) => `${k} ${v}`).join(', ')})\n`);
