// Seeded generator of overlay kustomizations in the layouts people and `kustomize edit` write
// (indented and non-indented sequences, flow maps and flow sequences, quotes, CRLF, a BOM, comments
// with odd spacing, a comment after the last entry), and the edit properties checked over them:
// a scalar edit changes the bytes of that scalar only; an added entry keeps every original line.
import assert from 'node:assert/strict';
import { parseDocument, isScalar, visit, type Scalar } from 'yaml';
import { diffLines, editYaml, parseKustomization, readImageEntries, readReplicas, setImagePin, setReplicas } from '../lib/render/images.js';

/** mulberry32: small, fast, seeded. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Generated {
  text: string;
  crlf: boolean;
  flowSeq: boolean;
  images: Array<{ name: string; tag?: string; digest?: string }>;
  replicas: Array<{ name: string; count: number }>;
}

const D = (n: number) => `sha256:${n.toString(16).padStart(2, '0').repeat(32)}`;

export function generate(rand: () => number): Generated {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const int = (n: number) => Math.floor(rand() * n);
  const crlf = rand() < 0.3;
  const ind = pick(['', '  ', '    '] as const);
  const comment = () => (rand() < 0.35 ? `${' '.repeat(1 + int(4))}#${' '.repeat(int(3))}note ${int(100)}` : '');
  const q = (v: string) => pick([v, `"${v}"`, `'${v}'`]);
  const lines: string[] = [];
  if (rand() < 0.3) lines.push(`# overlay ${int(10)}`);
  lines.push('apiVersion: kustomize.config.k8s.io/v1beta1', `kind: Kustomization${comment()}`);
  if (rand() < 0.5) lines.push(`namespace: team-${int(5)}${comment()}`);
  if (rand() < 0.3) lines.push('');
  lines.push('resources:', `${ind}- ../../base${comment()}`);
  if (rand() < 0.3) lines.push(`${ind}- extra.yaml`);

  const images: Generated['images'] = [];
  const nImages = 1 + int(4);
  for (let i = 0; i < nImages; i++) {
    const name = `registry.example.com/team/app${i}`;
    const kind = int(3);
    images.push(kind === 2 ? { name, digest: D(i + 1) } : kind === 1 ? { name, tag: `1.${i}.${int(9)}`, digest: D(i + 20) } : { name, tag: `1.${i}.${int(9)}` });
  }
  const style = pick(['block', 'flowMaps', 'flowSeq'] as const);
  const fields = (e: Generated['images'][number]) =>
    e.tag ? [['newTag', q(e.digest ? `${e.tag}@${e.digest}` : e.tag)]] : [['digest', q(e.digest!)]];
  if (rand() < 0.2) lines.push('');
  if (style === 'flowSeq') {
    lines.push(`images: [${images.map((e) => `{name: ${e.name}, ${fields(e).map(([k, v]) => `${k}: ${v}`).join(', ')}}`).join(', ')}]${comment()}`);
  } else {
    lines.push(`images:${comment()}`);
    for (const e of images) {
      if (style === 'flowMaps') lines.push(`${ind}- {name: ${e.name}, ${fields(e).map(([k, v]) => `${k}: ${v}`).join(', ')}}${comment()}`);
      else {
        lines.push(`${ind}- name: ${e.name}${comment()}`);
        for (const [k, v] of fields(e)) lines.push(`${ind}  ${k}: ${v}${comment()}`);
      }
    }
    if (rand() < 0.4) lines.push(`${rand() < 0.5 ? ind : ''}# after the last image`);
  }
  const replicas: Generated['replicas'] = [];
  if (rand() < 0.5) {
    const n = 1 + int(2);
    lines.push(`replicas:${comment()}`);
    for (let i = 0; i < n; i++) {
      replicas.push({ name: `app${i}`, count: 1 + int(5) });
      if (style === 'flowMaps') lines.push(`${ind}- {name: app${i}, count: ${replicas[i]!.count}}${comment()}`);
      else lines.push(`${ind}- name: app${i}`, `${ind}  count: ${replicas[i]!.count}${comment()}`);
    }
    if (rand() < 0.3) lines.push('# end');
  }
  let text = lines.join(crlf ? '\r\n' : '\n');
  if (rand() < 0.85) text += crlf ? '\r\n' : '\n';
  if (rand() < 0.05) text = `\uFEFF${text}`;
  return { text, crlf, flowSeq: style === 'flowSeq', images, replicas };
}

/** The source range of the scalar at images[i].<key> or replicas[i].count in `text`. */
function scalarRange(text: string, seqKey: string, index: number, key: string): [number, number] {
  const doc = parseDocument(text);
  const node = doc.getIn([seqKey, index, key], true) as Scalar;
  assert.ok(isScalar(node) && node.range, `no scalar ${seqKey}[${index}].${key}`);
  return [node.range[0], node.range[1]];
}

/** Asserts `out` is `text` with only [start, end) replaced, by something on one line. */
function assertOnlyScalarChanged(text: string, out: string, [start, end]: [number, number], ctx: string): void {
  const replaced = out.length - (text.length - (end - start));
  assert.ok(replaced > 0, ctx);
  assert.equal(out.slice(0, start), text.slice(0, start), `${ctx}: bytes before the scalar changed`);
  assert.equal(out.slice(start + replaced), text.slice(end), `${ctx}: bytes after the scalar changed`);
  assert.ok(!/[\r\n]/.test(out.slice(start, start + replaced)), `${ctx}: the new scalar spans lines`);
}

function assertLinesKept(text: string, out: string, g: Generated, ctx: string): void {
  // A file without a final line break gets one before lines appended after its last line.
  const eol = g.crlf ? '\r\n' : '\n';
  const closed = (t: string) => (t.endsWith('\n') ? t : t + eol);
  const ops = diffLines(closed(text).split('\n'), closed(out).split('\n'));
  const removed = ops.filter(([op]) => op === '-').map(([, l]) => l);
  // A flow sequence is one line: adding to it rewrites that line, and only that one.
  if (g.flowSeq) assert.ok(removed.every((l) => /^(images|replicas):/.test(l)), `${ctx}: removed ${JSON.stringify(removed)}`);
  else assert.deepEqual(removed, [], `${ctx}: original lines were changed or dropped`);
  if (g.crlf) assert.ok(!/[^\r]\n/.test(out.replace(/^\n/, '')), `${ctx}: a line without CR in a CRLF file`);
  else assert.ok(!out.includes('\r'), `${ctx}: CR in an LF file`);
}

/** One random edit of a generated file, with its property checked. Returns the operation's name. */
export function checkOneEdit(seed: number): string {
  const rand = prng(seed);
  const g = generate(rand);
  const file = `overlay-${seed}.yaml`;
  const ctx = (op: string) => `seed ${seed} (${op}):\n${JSON.stringify(g.text)}`;
  const op = Math.floor(rand() * 5);
  const idx = Math.floor(rand() * g.images.length);
  const e = g.images[idx]!;
  if (op === 0 || (op === 3 && !g.replicas.length)) {
    // Same key, new value: a scalar edit.
    const pin = e.tag ? { tag: `9.${seed % 100}.0`, ...(e.digest ? { digest: `sha256:${'f'.repeat(64)}` } : {}) } : { digest: `sha256:${'f'.repeat(64)}` };
    const out = editYaml(file, g.text, (doc) => void setImagePin(doc, file, e.name, pin));
    assertOnlyScalarChanged(g.text, out, scalarRange(g.text, 'images', idx, e.tag ? 'newTag' : 'digest'), ctx('pin'));
    const after = readImageEntries(parseKustomization(file, out), file).find((x) => x.name === e.name)!;
    assert.deepEqual(after.pin, pin, ctx('pin'));
    return 'scalar pin';
  }
  if (op === 1) {
    const out = editYaml(file, g.text, (doc) => void setImagePin(doc, file, 'registry.example.com/team/new', { tag: '2.0.0' }));
    assertLinesKept(g.text, out, g, ctx('add image'));
    const entries = readImageEntries(parseKustomization(file, out), file);
    assert.equal(entries.length, g.images.length + 1, ctx('add image'));
    assert.deepEqual(entries.at(-1), { name: 'registry.example.com/team/new', pin: { tag: '2.0.0' } });
    return 'add image';
  }
  if (op === 2) {
    const out = editYaml(file, g.text, (doc) => void setReplicas(doc, file, 'newapp', 7));
    assertLinesKept(g.text, out, g, ctx('add replicas'));
    assert.equal(readReplicas(parseKustomization(file, out), file).get('newapp'), 7, ctx('add replicas'));
    return 'add replicas';
  }
  if (op === 3) {
    const r = Math.floor(rand() * g.replicas.length);
    const count = g.replicas[r]!.count + 10;
    const out = editYaml(file, g.text, (doc) => void setReplicas(doc, file, g.replicas[r]!.name, count));
    assertOnlyScalarChanged(g.text, out, scalarRange(g.text, 'replicas', r, 'count'), ctx('count'));
    assert.equal(readReplicas(parseKustomization(file, out), file).get(g.replicas[r]!.name), count);
    return 'scalar count';
  }
  // A tag-only entry gets a digest pin (digest: entry -> newTag, or tag -> tag@digest): at most the edited entry's lines move.
  const pin = { tag: '3.0.0', digest: `sha256:${'a'.repeat(64)}` };
  const out = editYaml(file, g.text, (doc) => void setImagePin(doc, file, e.name, pin));
  const after = readImageEntries(parseKustomization(file, out), file).find((x) => x.name === e.name)!;
  assert.deepEqual(after.pin, pin, ctx('repin'));
  const removed = diffLines(g.text.split('\n'), out.split('\n')).filter(([o]) => o === '-').map(([, l]) => l);
  assert.ok(removed.every((l) => l.includes(e.name) || /digest:|newTag:/.test(l) || /^images:/.test(l)), `${ctx('repin')}: removed ${JSON.stringify(removed)}`);
  let others = 0;
  visit(parseDocument(out), { Scalar() { others++; } });
  assert.ok(others > 0);
  return 'repin';
}
