// A long-lived child that answers JSON lines (`{"id": n, ...}` per request, in any order): the
// kustomize renderer (renderer.ts) and argocd-helper (argocd/helper.ts). One process, started on
// first use and again after it ended; answers read with a bound (core/lines.ts), so an over-long
// one fails its request instead of being held whole; an optional time bound per request, which
// ends the process; the process keeps Node alive only while requests are pending.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { boundedLines } from './lines.js';
import { YAML_LIMITS } from './yamlfile.js';

/**
 * The line bound of both clients: an answer carries at most one render's output (the YAML
 * limit of a stream) as YAML and again as JSON objects, quoted.
 */
export const MAX_ANSWER_BYTES = 2.25 * YAML_LIMITS.maxStreamBytes;

/** An answer longer than the line bound: its request fails with this; the process goes on. */
export class AnswerTooLarge extends Error {
  constructor(readonly bytes: number) {
    super(`answer of ${bytes} bytes is over the line bound`);
  }
}

export interface JsonLinesOptions {
  /** Its name in error messages (`argocd-helper`). */
  name: string;
  cmd: string;
  args: string[];
  /** The child's whole environment, made when it starts. */
  env: () => NodeJS.ProcessEnv;
  /** Bound on one answer line, bytes. */
  maxLineBytes: number;
  /** Bound on one request, ms; one that does not answer in time ends the process. None when unset. */
  timeoutMs?: number;
  /** Named in the message of a request over the time bound (the setting that changes it). */
  timeoutHint?: string;
  /** What a failed start becomes (ENOENT: a ToolMissingError). */
  spawnError?: (e: NodeJS.ErrnoException) => Error;
}

interface Pending {
  child: ChildProcessWithoutNullStreams;
  resolve: (a: { id: number }) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
}

export class JsonLinesClient<Answer extends { id: number }> {
  private child?: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stderr: string[] = [];

  constructor(readonly opts: JsonLinesOptions) {}

  private start(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const { name, cmd, args } = this.opts;
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: this.opts.env() });
    this.stderr = [];
    child.stderr.on('data', (d: Buffer) => {
      this.stderr.push(d.toString('utf8'));
      if (this.stderr.length > 200) this.stderr.splice(0, 100);
    });
    boundedLines(child.stdout, this.opts.maxLineBytes, (line) => {
      const res = JSON.parse(line) as Answer;
      this.settle(res.id, (p) => p.resolve(res));
    }, (head, bytes) => {
      // The id leads every answer: only that request fails; without one, the stream is lost.
      const id = /^\{"id":(\d+)/.exec(head);
      if (id) this.settle(Number(id[1]), (p) => p.reject(new AnswerTooLarge(bytes)));
      else child.kill('SIGKILL');
    });
    // Only this process's requests fail with it (a timed-out one may have been replaced already).
    const fail = (e: Error) => {
      if (this.child === child) this.child = undefined;
      for (const [id, p] of this.pending) if (p.child === child) this.settle(id, (q) => q.reject(e));
    };
    child.on('error', (e: NodeJS.ErrnoException) => fail(this.opts.spawnError?.(e) ?? e));
    child.on('exit', (code, signal) => fail(new Error(`${name} exited (${signal ?? code}): ${this.stderr.join('').trim().split('\n').slice(-5).join('\n')}`)));
    child.stdin.on('error', () => {});
    this.child = child;
    return child;
  }

  private settle(id: number, how: (p: Pending) => void): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    how(p);
    this.idle();
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
   * Sends `body` with a fresh id; resolves with the answer carrying that id. Rejects when the
   * process fails or ends first, the answer is over the bound (AnswerTooLarge), or the time
   * bound passes (`what` names the request in that message).
   */
  request(body: Record<string, unknown>, what = 'a request'): Promise<Answer> {
    const child = this.start();
    const id = this.nextId++;
    return new Promise<Answer>((resolve, reject) => {
      const p: Pending = { child, resolve: resolve as (a: { id: number }) => void, reject };
      const ms = this.opts.timeoutMs;
      if (ms !== undefined) {
        p.timer = setTimeout(() => {
          const hint = this.opts.timeoutHint ? ` (${this.opts.timeoutHint})` : '';
          this.settle(id, (q) => q.reject(new Error(`${this.opts.name} did not answer ${what} within ${ms / 1000} s${hint}`)));
          if (this.child === child) {
            this.child = undefined;
            child.kill('SIGKILL');
          }
        }, ms);
      }
      this.pending.set(id, p);
      this.idle();
      child.stdin.write(JSON.stringify({ ...body, id }) + '\n');
    });
  }

  /** Ends the process (stdin EOF); it exits once in-flight requests are answered. */
  close(): void {
    this.child?.stdin.end();
  }
}
