// Client of the long-lived renderer (tools/go/kustomize/renderer): one process renders many
// overlays concurrently with the same kustomize API as the pinned binary, instead of one
// kustomize process per overlay. Callers go through kustomizeBuild, which falls back to the
// binary when the renderer is absent or declines a request.
import { AnswerTooLarge, JsonLinesClient, MAX_ANSWER_BYTES } from './jsonlines.js';
import { YAML_LIMITS } from './yamlfile.js';
import { renderEnv } from './exec.js';

/** What the renderer answers for one request. */
/** With a `root`: `reads`, every file the build read (absolute), and what the renderer's guard refused. */
export interface ReadRecord {
  reads?: string[];
  refused?: Array<{ path: string; why: string }>;
}
export type RenderAnswer = ({ yaml: string; objects?: unknown[] } | { error: string } | { unsupported: string }) & ReadRecord;

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

/** A renderer answer as it arrives. */
type RawAnswer = { id: number; yaml?: string; json?: unknown[]; error?: string; unsupported?: string } & ReadRecord;

export class Renderer {
  private readonly client: JsonLinesClient<RawAnswer>;
  private broken?: Error;

  constructor(readonly cmd: string, readonly jobs?: number) {
    // The render environment (exec.ts): it reads repository content, never a token. Answers are
    // bounded: a render that generates more than the stream limit is an error of that request,
    // never a line held whole in memory.
    this.client = new JsonLinesClient({ name: `renderer ${cmd}`, cmd, args: jobs ? ['-j', String(jobs)] : [], env: () => renderEnv(), maxLineBytes: MAX_ANSWER_BYTES });
  }

  /**
   * Renders `dir` (absolute) with kustomize build arguments `args`; with `json`, the objects
   * parsed too. With `origins`, as if its kustomization also set `buildMetadata:
   * [originAnnotations, transformerAnnotations]` (lib/render/origins.ts); never cached with, nor
   * mistaken for, a plain render. A renderer that failed or ended with requests pending answers
   * `unsupported` from then on (the binary renders instead).
   */
  async render(dir: string, args: string[], opts: { json?: boolean; origins?: boolean; root?: string } = {}): Promise<RenderAnswer> {
    if (this.broken) return { unsupported: this.broken.message };
    let res: RawAnswer;
    try {
      res = await this.client.request({ dir, args, json: !!opts.json, ...(opts.origins ? { origins: true } : {}), ...(opts.root ? { root: opts.root } : {}) });
    } catch (e) {
      if (e instanceof AnswerTooLarge) return { error: tooLarge(e.bytes) };
      this.broken = e as Error;
      return { unsupported: (e as Error).message };
    }
    const bytes = Buffer.byteLength(res.yaml ?? '');
    if (bytes > YAML_LIMITS.maxStreamBytes) return { error: tooLarge(bytes) };
    const record: ReadRecord = { ...(res.reads ? { reads: res.reads } : {}), ...(res.refused ? { refused: res.refused } : {}) };
    if (res.unsupported) return { unsupported: res.unsupported };
    if (res.error !== undefined) return { error: res.error, ...record };
    return res.json ? { yaml: res.yaml ?? '', objects: res.json, ...record } : { yaml: res.yaml ?? '', ...record };
  }

  /** Ends the process (stdin EOF); it exits once in-flight requests are answered. */
  close(): void {
    this.client.close();
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
