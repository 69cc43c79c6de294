import ts from 'typescript';
import { readFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import path from 'node:path';
const files = execSync('git ls-files tools/lib', { encoding: 'utf8' }).split('\n').filter((f) => f.endsWith('.ts'));
const g = new Map<string, string[]>();
for (const f of files) {
  const info = ts.preProcessFile(readFileSync(f, 'utf8'), true, true);
  g.set(f, info.importedFiles.filter((i) => i.fileName.startsWith('.')).map((i) => path.normalize(path.join(path.dirname(f), i.fileName)).replace(/\.js$/, '.ts')));
}
// Tarjan SCC
let idx = 0; const index = new Map<string, number>(), low = new Map<string, number>(), on = new Set<string>(), st: string[] = [];
const sccs: string[][] = [];
const sc = (v: string) => { index.set(v, idx); low.set(v, idx++); st.push(v); on.add(v);
  for (const w of g.get(v) ?? []) { if (!g.has(w)) continue; if (!index.has(w)) { sc(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!)); }
  if (low.get(v) === index.get(v)) { const c: string[] = []; let w; do { w = st.pop()!; on.delete(w); c.push(w); } while (w !== v); if (c.length > 1) sccs.push(c); } };
for (const v of g.keys()) if (!index.has(v)) sc(v);
console.log(sccs);
