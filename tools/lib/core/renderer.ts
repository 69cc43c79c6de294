// Client of the long-lived renderer (tools/go/kustomize/renderer): one process renders many
// overlays concurrently with the same kustomize API as the pinned binary, instead of one
// kustomize process per overlay. Callers go through kustomizeBuild, which falls back to the
// binary when the renderer is absent or declines a request.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { boundedLines } from './lines.js';
import { YAML_LIMITS } from './yamlfile.js';
import { renderEnv } from './exec.js';

/** What the renderer answers for one request. */
/** With a `root`: `reads`, every file the build read (absolute), and what the renderer's guard refused. */
export interface ReadRecord {
  reads?: string[];
  refused?: Array<{ path: string; why: string }>;
}
export type RenderAnswer = ({ yaml: string; objects?: unknown[] } | { error: string } | { unsupported: string }) & ReadRecord;

interface Pending {
  resolve: (a: RenderAnswer) => void;
  reject: (e: Error) => void;
}

/**
 * Build options the renderer accepts (the same flags kustomize build parses); anything else
 * goes to the binary, where the caller's own checks apply.
 */
const RENDERER_FLAGS = /^--(load-restrictor|reorder)(=.*)?$|^--enable-managedby-label$/;

export function rendererSupports(args: string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    if (!RENDERER_FLAGS.test(args[i])) return false;
    if (!args[i].includes('=') && args[i] !== '--enable-managedby-label') i++; // the flag's value
  }
  return true;
}

export class Renderer {
  private child?: ChildProcessWithoutNullStreams;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private broken?: Error;

  constructor(readonly cmd: string, readonly jobs?: number) {}

  private start(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    // The scrubbed environment of every child (exec.ts): it reads repository content, never a token.
    const child = spawn(this.cmd, this.jobs ? ['-j', String(this.jobs)] : [], { stdio: ['pipe', 'pipe', 'pipe'], env: renderEnv() });
    const stderr: string[] = [];
    child.stderr.on('data', (d: Buffer) => stderr.push(d.toString('utf8')));
    // Bounded: a render that generates more than the stream limit is an error of that request,
    // never a line held whole in memory (the JSON line carries the YAML and the objects).
    const answer = (id: number, a: RenderAnswer) => {
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      p.resolve(a);
      this.idle();
    };
    boundedLines(child.stdout, 2.25 * YAML_LIMITS.maxStreamBytes, (line) => {
      const res = JSON.parse(line) as { id: number; yaml?: string; json?: unknown[]; error?: string; unsupported?: string } & ReadRecord;
      if (Buffer.byteLength(res.yaml ?? '') > YAML_LIMITS.maxStreamBytes) return answer(res.id, { error: tooLarge(Buffer.byteLength(res.yaml ?? '')) });
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      const record: ReadRecord = { ...(res.reads ? { reads: res.reads } : {}), ...(res.refused ? { refused: res.refused } : {}) };
      p.resolve(res.unsupported ? { unsupported: res.unsupported } : res.error !== undefined ? { error: res.error, ...record } : res.json ? { yaml: res.yaml ?? '', objects: res.json, ...record } : { yaml: res.yaml ?? '', ...record });
      this.idle();
    }, (head, bytes) => {
      const id = /^\{"id":(\d+)/.exec(head);
      if (id) answer(Number(id[1]), { error: tooLarge(bytes) });
      else child.kill('SIGKILL');
    });
    const fail = (e: Error) => {
      this.broken = e;
      this.child = undefined;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      if (this.pending.size) fail(new Error(`renderer ${this.cmd} exited (${signal ?? code}) with requests pending: ${stderr.join('').trim()}`));
      this.child = undefined;
    });
    child.stdin.on('error', () => {});
    this.child = child;
    return child;
  }

  /** The process keeps Node alive only while requests are pending. */
  private idle(): void {
    const c = this.child;
    if (!c) return;
    const on = this.pending.size > 0;
    for (const s of [c.stdout, c.stderr, c.stdin] as Array<{ ref?: () => void; unref?: () => void }>) (on ? s.ref : s.unref)?.call(s);
    if (on) c.ref();
    else c.unref();
  }

  /**
   * Renders `dir` (absolute) with kustomize build arguments `args`; with `json`, the objects
   * parsed too. With `origins`, as if its kustomization also set `buildMetadata:
   * [originAnnotations, transformerAnnotations]` (lib/render/origins.ts); never cached with, nor
   * mistaken for, a plain render.
   */
  render(dir: string, args: string[], opts: { json?: boolean; origins?: boolean; root?: string } = {}): Promise<RenderAnswer> {
    if (this.broken) return Promise.resolve({ unsupported: this.broken.message });
    const child = this.start();
    const id = this.nextId++;
    return new Promise<RenderAnswer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.idle();
      child.stdin.write(JSON.stringify({ id, dir, args, json: !!opts.json, ...(opts.origins ? { origins: true } : {}), ...(opts.root ? { root: opts.root } : {}) }) + '\n');
    }).catch((e: Error) => ({ unsupported: e.message }));
  }

  /** Ends the process (stdin EOF); it exits once in-flight requests are answered. */
  close(): void {
    this.child?.stdin.end();
  }
}

/** The error of a render over the stream limit (kustomizeBuild's binary fallback says the same). */
export const tooLarge = (bytes: number) =>
  `the rendered output (${Math.round(bytes / 1024 / 1024)} MiB read) is larger than ${YAML_LIMITS.maxStreamBytes / 1024 / 1024} MiB, the limit of one render: split the overlay or shrink what it generates`;

const shared = new Map<string, Renderer>();

/** One renderer process per binary for the whole run, started on first use. */
export function sharedRenderer(cmd: string): Renderer {
  let r = shared.get(cmd);
  if (!r) shared.set(cmd, (r = new Renderer(cmd)));
  return r;
}
