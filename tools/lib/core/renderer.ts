// Client of the long-lived renderer (tools/go/kustomize/renderer): one process renders many
// overlays concurrently with the same kustomize API as the pinned binary, instead of one
// kustomize process per overlay. Callers go through kustomizeBuild, which falls back to the
// binary when the renderer is absent or declines a request.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { childEnv } from './exec.js';

/** What the renderer answers for one request. */
export type RenderAnswer = { yaml: string; objects?: unknown[] } | { error: string } | { unsupported: string };

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
    const child = spawn(this.cmd, this.jobs ? ['-j', String(this.jobs)] : [], { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv() });
    const stderr: string[] = [];
    child.stderr.on('data', (d: Buffer) => stderr.push(d.toString('utf8')));
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
      const res = JSON.parse(line) as { id: number; yaml?: string; json?: unknown[]; error?: string; unsupported?: string };
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      p.resolve(res.unsupported ? { unsupported: res.unsupported } : res.error !== undefined ? { error: res.error } : res.json ? { yaml: res.yaml ?? '', objects: res.json } : { yaml: res.yaml ?? '' });
      this.idle();
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
  render(dir: string, args: string[], opts: { json?: boolean; origins?: boolean } = {}): Promise<RenderAnswer> {
    if (this.broken) return Promise.resolve({ unsupported: this.broken.message });
    const child = this.start();
    const id = this.nextId++;
    return new Promise<RenderAnswer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.idle();
      child.stdin.write(JSON.stringify({ id, dir, args, json: !!opts.json, ...(opts.origins ? { origins: true } : {}) }) + '\n');
    }).catch((e: Error) => ({ unsupported: e.message }));
  }

  /** Ends the process (stdin EOF); it exits once in-flight requests are answered. */
  close(): void {
    this.child?.stdin.end();
  }
}

const shared = new Map<string, Renderer>();

/** One renderer process per binary for the whole run, started on first use. */
export function sharedRenderer(cmd: string): Renderer {
  let r = shared.get(cmd);
  if (!r) shared.set(cmd, (r = new Renderer(cmd)));
  return r;
}
