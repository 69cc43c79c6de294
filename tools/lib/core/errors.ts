// Typed errors: the CLI entry point prints `message` (and `hint`) and sets the exit code.
// process.exit is called only by the interrupt handler (core/cleanup.ts, after the cleanups),
// by tools/run.mjs, which passes on the exit status of the toolkit it started, and by the bench
// scripts.
export class GitopsError extends Error {
  /** Exit code the CLI uses for this error. */
  exitCode = 2;
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Wrong arguments on the command line. */
export class UsageError extends GitopsError {}

/** A file of the repository (config, YAML, kustomization) is malformed. */
export class ConfigError extends GitopsError {
  constructor(readonly file: string, message: string, hint?: string) {
    super(`${file}: ${message}`, hint);
  }
}

/** A required external binary is missing or failed to start. */
export class ToolMissingError extends GitopsError {}

/** An external command exited non-zero. */
export class CommandFailedError extends GitopsError {
  constructor(readonly command: string, readonly code: number | null, readonly stderr: string) {
    super(`${command} failed (exit ${code}): ${stderr.trim().split('\n').slice(-20).join('\n')}`);
  }
}

/** A child wrote more to stdout than the caller reads (it was killed). */
export class OutputLimitError extends GitopsError {
  constructor(readonly command: string, readonly limit: number) {
    super(`${command.split('/').pop()}: output larger than ${Math.round(limit / 1024 / 1024)} MiB, the limit of one render: split the overlay or shrink what it generates`);
  }
}

/** Validation found errors; the report was already printed. */
export class FindingsError extends GitopsError {
  exitCode = 1;
}

/** An app or environment name that matches nothing, or more than one thing. */
export class NameError extends UsageError {
  constructor(message: string, readonly candidates: string[]) {
    super(`${message}${candidates.length ? `\n  candidates: ${candidates.join(', ')}` : ''}`);
  }
}

/** A container registry could not answer a tag-to-digest lookup. */
export class RegistryError extends GitopsError {
  exitCode = 3;
}

/** A git operation of a release command failed (messages are scrubbed of tokens). */
export class GitError extends GitopsError {
  exitCode = 3;
}

/** The GitHub API refused or failed a request (messages are scrubbed of tokens). */
export class GitHubError extends GitopsError {
  exitCode = 3;
  constructor(message: string, readonly status?: number, hint?: string) {
    super(message, hint);
  }
}
