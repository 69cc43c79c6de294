// Progress for long runs (validate, diff): one status line on stderr, rewritten in place, only when
// a person watches a terminal. Nothing in CI (CI set), in pipes, or with machine-readable output.

export type Progress = (phase: string) => void;

export interface ProgressOptions {
  /** Command name shown at the start of the line. */
  command: string;
  /** Report format: json (and sarif) output is for machines. */
  format?: string;
  env?: NodeJS.ProcessEnv;
  stream?: { isTTY?: boolean; write: (s: string) => unknown };
  now?: () => number;
  /** False: never show anything (library callers). */
  enabled?: boolean;
}

export interface ProgressHandle {
  update: Progress;
  /** Clears the line (call before the report is printed). */
  done: () => void;
  /** Whether anything will be shown. */
  enabled: boolean;
}

export function createProgress(opts: ProgressOptions): ProgressHandle {
  const env = opts.env ?? process.env;
  const stream = opts.stream ?? process.stderr;
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0';
  const enabled = opts.enabled !== false && stream.isTTY === true && !ci && opts.format !== 'json' && opts.format !== 'sarif' && env.TERM !== 'dumb';
  if (!enabled) return { update: () => {}, done: () => {}, enabled };
  const now = opts.now ?? Date.now;
  const start = now();
  let shown = false;
  return {
    enabled,
    update(phase) {
      const secs = ((now() - start) / 1000).toFixed(1);
      // \r + erase-line: rewrite the one status line instead of scrolling.
      stream.write(`\r\x1b[2K${opts.command}: ${phase} (${secs}s)`);
      shown = true;
    },
    done() {
      if (shown) stream.write('\r\x1b[2K');
      shown = false;
    },
  };
}
