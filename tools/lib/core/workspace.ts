// What one run knows about the files it reads, and what earlier runs left in .cache:
// - file contents are read once per run and hashed; a file whose size, mtime and inode are
//   unchanged since an earlier run keeps its hash without being read (.cache/files.json);
// - kustomization files are parsed once per run, however many overlays share them;
// - small persistent key-value stores (.cache/findings/<name>.json) hold the outcome of checks
//   keyed by what they depend on (see validation.ts), so a warm run redoes none of them.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export function sha(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 40);
}

let codeHash: string | undefined;

/**
 * Hash of the toolkit's own code (every module of lib/, compiled or not): part of the key of
 * cached check outcomes, so a change to any check invalidates them without a version bump.
 */
export function toolkitCodeHash(): string {
  if (codeHash) return codeHash;
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|js|json)$/.test(e.name)) h.update(`\0${e.name}\0`).update(readFileSync(p));
    }
  };
  walk(path.dirname(path.dirname(fileURLToPath(import.meta.url)))); // all of lib/
  return (codeHash = h.digest('hex').slice(0, 40));
}

/** Caches are off with GITOPS_NO_CACHE (every run is cold). */
export function cachingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return !env.GITOPS_NO_CACHE;
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Atomic write: a concurrent run (a shard) never reads half a file; the last writer wins. */
export async function writeAtomic(file: string, data: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

interface StatEntry {
  sig: string;
  hash: string;
}

/** Mtime granularity guard: a file changed within this window of its hashing is hashed again next time. */
export const RACY_MS = 2000;

/** A file's stat signature: while it holds, a hash or parse kept for the file still answers for it. */
export const statSig = (st: { size: number; mtimeMs: number; ino: number }): string => `${st.size}:${st.mtimeMs}:${st.ino}`;

export class Workspace {
  private texts = new Map<string, Promise<Buffer | undefined>>();
  private hashes = new Map<string, Promise<string | undefined>>();
  private statMemo = new Map<string, StatEntry>();
  private loaded?: Promise<void>;
  private dirty = false;
  private parsed = new Map<string, Promise<unknown>>();
  readonly persist: boolean;

  constructor(readonly root: string, env: NodeJS.ProcessEnv = process.env) {
    this.persist = cachingEnabled(env);
  }

  private get memoFile(): string {
    return path.join(this.root, '.cache', 'files.json');
  }

  private load(): Promise<void> {
    this.loaded ??= (async () => {
      if (!this.persist) return;
      const data = await readJson<Record<string, StatEntry>>(this.memoFile);
      for (const [k, v] of Object.entries(data ?? {})) this.statMemo.set(k, v);
    })();
    return this.loaded;
  }

  /**
   * File content (read once per run); undefined when it does not exist. Read synchronously:
   * for thousands of small files that is several times faster than fs.promises (four
   * thread-pool round trips per file) and the run has nothing else to do meanwhile.
   */
  read(abs: string): Promise<Buffer | undefined> {
    let p = this.texts.get(abs);
    if (!p) {
      let data: Buffer | undefined;
      try {
        data = readFileSync(abs);
      } catch {
        data = undefined;
      }
      this.texts.set(abs, (p = Promise.resolve(data)));
    }
    return p;
  }

  async text(abs: string): Promise<string | undefined> {
    return (await this.read(abs))?.toString('utf8');
  }

  /** Content hash; undefined when the file does not exist. Unchanged files are not read. */
  hash(abs: string): Promise<string | undefined> {
    let p = this.hashes.get(abs);
    if (!p) {
      p = (async () => {
        await this.load();
        let st: ReturnType<typeof statSync> | undefined;
        try {
          st = statSync(abs);
        } catch {
          st = undefined; // ENOENT, ENOTDIR (a file used as a folder): no such file
        }
        if (!st?.isFile()) return st ? 'dir' : undefined;
        const sig = statSig(st);
        const key = path.relative(this.root, abs);
        const memo = this.statMemo.get(key);
        if (memo?.sig === sig) return memo.hash;
        const data = await this.read(abs);
        if (data === undefined) return undefined;
        const hash = sha(data);
        if (this.persist && Date.now() - st.mtimeMs > RACY_MS) {
          this.statMemo.set(key, { sig, hash });
          this.dirty = true;
        }
        return hash;
      })();
      this.hashes.set(abs, p);
    }
    return p;
  }

  /**
   * A file's parse, by content hash, kept across runs (.cache/parsed.json): an unchanged
   * kustomization is neither read nor parsed again. `parse` must return plain JSON data.
   */
  async parsedFile<T>(abs: string, kind: string, parse: (text: string, raw: Buffer) => T): Promise<T | undefined> {
    const hash = await this.hash(abs);
    if (hash === undefined || hash === 'dir') return undefined;
    await this.loadParsed();
    const key = `${kind}:${hash}`;
    if (this.parsedMemo.has(key)) return this.parsedMemo.get(key) as T;
    const raw = await this.read(abs);
    if (raw === undefined) return undefined;
    const value = parse(raw.toString('utf8'), raw);
    this.parsedMemo.set(key, value);
    this.parsedDirty = true;
    return value;
  }

  private parsedMemo = new Map<string, unknown>();
  private parsedDirty = false;
  private parsedLoaded?: Promise<void>;

  private loadParsed(): Promise<void> {
    this.parsedLoaded ??= (async () => {
      if (!this.persist) return;
      const data = await readJson<Record<string, unknown>>(path.join(this.root, '.cache', 'parsed.json'));
      for (const [k, v] of Object.entries(data ?? {})) this.parsedMemo.set(k, v);
    })();
    return this.parsedLoaded;
  }

  /** A parse of a file memoized per run (kustomizations shared by many overlays). */
  memo<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let p = this.parsed.get(key) as Promise<T> | undefined;
    if (!p) this.parsed.set(key, (p = fn()));
    return p;
  }

  private savers: Array<() => Promise<void>> = [];

  /** Something else this run learnt, persisted with the run's files (closurememo.ts). */
  atSave(fn: () => Promise<void>): void {
    this.savers.push(fn);
  }

  async save(): Promise<void> {
    if (!this.persist) return;
    await Promise.all(this.savers.map((f) => f()));
    if (this.parsedDirty) {
      this.parsedDirty = false;
      await writeAtomic(path.join(this.root, '.cache', 'parsed.json'), JSON.stringify(Object.fromEntries(this.parsedMemo)));
    }
    if (!this.dirty) return;
    this.dirty = false;
    await writeAtomic(this.memoFile, JSON.stringify(Object.fromEntries(this.statMemo)));
  }
}

/**
 * A persistent map from a key (a hash of everything a result depends on) to the result.
 * Entries touched by this run are kept; older ones are kept up to `max`.
 */
export class Store<T> {
  private entries = new Map<string, T>();
  private touched = new Set<string>();
  private dirty = false;

  private constructor(private readonly file: string | undefined, private readonly max: number) {}

  static async open<T>(root: string, name: string, version: string, env: NodeJS.ProcessEnv = process.env, max = 200_000): Promise<Store<T>> {
    if (!cachingEnabled(env)) return new Store<T>(undefined, max);
    const file = path.join(root, '.cache', 'findings', `${name}.json`);
    const s = new Store<T>(file, max);
    const data = await readJson<{ version: string; entries: Record<string, T> }>(file);
    if (data?.version === version) for (const [k, v] of Object.entries(data.entries)) s.entries.set(k, v);
    s.version = version;
    return s;
  }

  private version = '';

  get(key: string): T | undefined {
    const v = this.entries.get(key);
    if (v !== undefined) this.touched.add(key);
    return v;
  }

  set(key: string, value: T): void {
    if (!this.file) return;
    this.entries.set(key, value);
    this.touched.add(key);
    this.dirty = true;
  }

  async save(): Promise<void> {
    if (!this.file || !this.dirty) return;
    const keep: Record<string, T> = {};
    let n = 0;
    for (const k of this.touched) if (n++ < this.max) keep[k] = this.entries.get(k)!;
    for (const [k, v] of this.entries) if (n < this.max && !(k in keep)) (keep[k] = v), n++;
    await writeAtomic(this.file, JSON.stringify({ version: this.version, entries: keep }));
  }
}
