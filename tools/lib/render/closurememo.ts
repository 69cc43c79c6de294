// A kustomization's closure walk kept across runs (.cache/closures.json). The walk reads
// kustomization files, lists folders and resolves real paths; what it finds depends on nothing
// but the files it names and the folders above them. So an entry is reused while each of those
// paths has the lstat signature it had (type, size, mtime, ctime, inode): editing a file changes
// its own, adding, removing or renaming an entry (a new kustomization.yaml beside a Kustomization,
// a folder swapped for a symlink) changes its folder's. Fail closed: a closure that meets a
// symlink, fetches anything, or names a path changed within the mtime granularity window is
// never kept, and any difference walks again.
import { lstatSync, type Stats } from 'node:fs';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { RACY_MS, toolkitCodeHash, writeAtomic, type Workspace } from '../core/workspace.js';
import { KUSTOMIZATION_NAMES } from '../config/layout.js';

/** Bumped when what an entry holds changes; the toolkit's code hash is in the version too. */
const MEMO_VERSION = 1;

/** What is kept: a closure walk's result (kustomize.ts Closure), its files absolute paths. */
interface Closure {
  files: string[];
}

interface MemoFile {
  version: string;
  /** Signature of every path some entry depends on. */
  sigs: Record<string, string>;
  entries: Record<string, Closure>;
}

/**
 * `f:`/`d:` plus size, mtime, ctime and inode; `-` missing (or a file where a folder would be);
 * `l` a symlink (never kept); `o` anything else; `e:<code>` unreadable (never kept). `changed` is
 * the later of mtime and ctime, for the racy check.
 */
function lstatSig(p: string): { sig: string; changed?: number } {
  let st: Stats | undefined;
  try {
    st = lstatSync(p, { throwIfNoEntry: false });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { sig: code === 'ENOTDIR' ? '-' : `e:${code ?? 'unknown'}` };
  }
  if (!st) return { sig: '-' };
  if (st.isSymbolicLink()) return { sig: 'l' };
  if (!st.isFile() && !st.isDirectory()) return { sig: 'o', changed: Math.max(st.mtimeMs, st.ctimeMs) };
  return { sig: `${st.isFile() ? 'f' : 'd'}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}`, changed: Math.max(st.mtimeMs, st.ctimeMs) };
}

export class ClosureMemo<C extends Closure = Closure> {
  private sigs = new Map<string, string>();
  private entries = new Map<string, C>();
  private dirty = false;
  private readonly started = Date.now();
  /** This run's signatures (each path lstat'ed once per run). */
  private now = new Map<string, ReturnType<typeof lstatSig>>();

  private constructor(private readonly root: string, private readonly file: string, private readonly version: string) {}

  /** The run's memo (one per Workspace), or undefined when caching is off. */
  static forRun<C extends Closure>(ws: Workspace, root: string): Promise<ClosureMemo<C> | undefined> {
    if (!ws.persist) return Promise.resolve(undefined);
    return ws.memo(`closure-memo:${root}`, async () => {
      const file = path.join(ws.root, '.cache', 'closures.json');
      // The root's own path is in the version: every entry holds absolute paths.
      const memo = new ClosureMemo<C>(root, file, `${MEMO_VERSION}:${toolkitCodeHash()}:${root}`);
      const data = await readFile(file, 'utf8').then((t) => JSON.parse(t) as MemoFile, () => undefined);
      if (data?.version === memo.version) {
        memo.sigs = new Map(Object.entries(data.sigs));
        memo.entries = new Map(Object.entries(data.entries) as Array<[string, C]>);
      }
      ws.atSave(() => memo.save());
      return memo;
    });
  }

  private statNow(p: string): ReturnType<typeof lstatSig> {
    let s = this.now.get(p);
    if (s === undefined) this.now.set(p, (s = lstatSig(p)));
    return s;
  }

  private sigNow(p: string): string {
    return this.statNow(p).sig;
  }

  /**
   * Every path a closure depends on: its files and each folder above them (a folder swapped for
   * a symlink or renamed changes its own signature; a new entry its parent's), and every
   * kustomization file name the walk tries in a folder it reads as a kustomization or as a
   * resource folder (one that is a broken symlink or unreadable is not in the closure, yet
   * fixing it changes the walk). The root only when a file is directly in it: a new file at the
   * top of the repository does not discard every closure.
   */
  private deps(c: Closure): string[] {
    const root = this.root;
    const out = new Set<string>();
    for (const f of c.files) {
      if (path.dirname(f) === root) out.add(root);
      for (let p = f; p !== root && !out.has(p) && p.startsWith(root + path.sep); p = path.dirname(p)) out.add(p);
      const kdir = KUSTOMIZATION_NAMES.includes(path.basename(f)) ? path.dirname(f) : this.sigNow(f).startsWith('d:') ? f : undefined;
      if (kdir) for (const n of KUSTOMIZATION_NAMES) out.add(path.join(kdir, n));
    }
    return [...out];
  }

  get(key: string): C | undefined {
    const c = this.entries.get(key);
    if (!c) return undefined;
    for (const p of this.deps(c)) if (this.sigs.get(p) !== this.sigNow(p)) return undefined;
    return c;
  }

  /**
   * Keeps a closure of local files only (the caller's check: nothing fetched, no Helm chart)
   * unless it meets a symlink or an unreadable path, or names a path changed too recently to trust.
   */
  set(key: string, c: C): void {
    const sigs: Array<[string, string]> = [];
    for (const p of this.deps(c)) {
      const { sig, changed } = this.statNow(p);
      if (sig === 'l' || sig.startsWith('e:')) return;
      if (changed !== undefined && changed > this.started - RACY_MS) return;
      sigs.push([p, sig]);
    }
    // A path that changed since it was recorded: every kept closure that depends on it is stale
    // (its own check would now pass against the new signature), so it goes.
    const changed = new Set(sigs.filter(([p, s]) => this.sigs.has(p) && this.sigs.get(p) !== s).map(([p]) => p));
    if (changed.size) {
      for (const [k, other] of this.entries) if (this.deps(other).some((p) => changed.has(p))) this.entries.delete(k);
    }
    for (const [p, s] of sigs) this.sigs.set(p, s);
    this.entries.set(key, c);
    this.dirty = true;
  }

  private async save(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    // Only the signatures some kept closure still depends on.
    const used = new Set([...this.entries.values()].flatMap((c) => this.deps(c)));
    const data: MemoFile = { version: this.version, sigs: Object.fromEntries([...this.sigs].filter(([p]) => used.has(p))), entries: Object.fromEntries(this.entries) };
    await writeAtomic(this.file, JSON.stringify(data));
  }
}
