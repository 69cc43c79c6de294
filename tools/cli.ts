#!/usr/bin/env node
// One entry point: parses arguments, runs one command, turns typed errors into exit codes.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMANDS, closest, helpText, overview, parseCommand, usageLine, wantsHelp, type Parsed } from './lib/cli/cliargs.js';
import { GitopsError, UsageError } from './lib/core/errors.js';
import { FORMATS } from './lib/core/formats.js';
import { redactText } from './lib/core/redact.js';
import { onCleanup } from './lib/core/cleanup.js';

type Handler = (argv: string[]) => Promise<void>;

/** Parses `argv` against the command's declared options (lib/cli/cliargs.ts). */
function parse(name: string, argv: string[]): Parsed {
  return parseCommand(name, argv);
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')} (got '${value}')`);
  return value as T;
}

const commands: Record<string, Handler> = {
  async 'pr-report'(argv) {
    const { values, positionals } = parse('pr-report', argv);
    if (positionals.length) throw new UsageError(`pr-report takes no positional arguments (got ${positionals.join(' ')})`);
    const { prReport } = await import('./commands/prreport.js');
    await prReport({ cwd: (values.cwd as string) ?? process.cwd(), validation: values.validation as string | undefined, diff: values.diff as string | undefined, rehearsal: values.rehearsal as string | undefined, out: values.out as string | undefined });
  },
  async 'pr-comment'(argv) {
    const { values, positionals } = parse('pr-comment', argv);
    if (positionals.length) throw new UsageError(`pr-comment takes no positional arguments (got ${positionals.join(' ')})`);
    if (typeof values.pr !== 'string') throw new UsageError('pr-comment needs --pr', `usage: ${usageLine('pr-comment')}`);
    if (typeof values.validation !== 'string' && typeof values.diff !== 'string') throw new UsageError('pr-comment needs --validation and/or --diff (the JSON reports)', `usage: ${usageLine('pr-comment')}`);
    const { prComment } = await import('./commands/prcomment.js');
    await prComment({
      cwd: (values.cwd as string) ?? process.cwd(),
      pr: values.pr as string,
      validation: values.validation as string | undefined,
      diff: values.diff as string | undefined,
      headSha: values['head-sha'] as string | undefined,
      repo: values.repo as string | undefined,
      author: values.author as string | undefined,
    });
  },
  async setup(argv) {
    const { values } = parse('setup', argv);
    const { setup } = await import('./commands/setup.js');
    await setup({ cwd: (values.cwd as string) ?? process.cwd(), testDeps: values['test-deps'] as boolean | undefined, helm: values.helm as boolean | undefined, rehearse: values.rehearse as boolean | undefined, argocdBinary: values['argocd-binary'] as string | undefined });
  },
  async validate(argv) {
    const { values, positionals } = parse('validate', argv);
    const format = oneOf(values.format, FORMATS.validate, '--format');
    if (values.merge) {
      if (!positionals.length) throw new UsageError('validate --merge takes the JSON reports of the shards (validate --shard i/n --format json > shard-i.json)');
      const { mergeReports } = await import('./commands/validate.js');
      await mergeReports({ files: positionals, format, cwd: (values.cwd as string) ?? process.cwd() });
      return;
    }
    if (positionals.length) throw new UsageError(`validate takes no positional arguments (got ${positionals.join(' ')})`);
    if (values.server !== undefined && values['no-server']) throw new UsageError('--server and --no-server exclude each other');
    let shard: { index: number; count: number } | undefined;
    if (values.shard !== undefined) {
      const m = /^([1-9][0-9]*)\/([1-9][0-9]*)$/.exec(values.shard as string);
      if (!m || +m[1] > +m[2]) throw new UsageError(`--shard must be i/n with 1 <= i <= n (got '${values.shard}')`);
      shard = { index: +m[1], count: +m[2] };
    }
    const { validate } = await import('./commands/validate.js');
    await validate({
      shard,
      cwd: (values.cwd as string) ?? process.cwd(),
      env: values.env as string | undefined,
      app: values.app as string | undefined,
      format,
      base: values.base as string | undefined,
      changedOnly: values['changed-only'] as boolean | undefined,
      newOnly: values['new-only'] as boolean | undefined,
      server: values['no-server'] ? false : values.server !== undefined ? { kubeconfig: values.server as string } : 'auto',
      allowRemote: values['allow-remote'] as boolean | undefined,
      rehearse: values.rehearse as boolean | undefined,
      progress: true,
    });
  },
  async rehearse(argv) {
    const { values, positionals } = parse('rehearse', argv);
    if (positionals.length) throw new UsageError(`rehearse takes no positional arguments (got ${positionals.join(' ')})`);
    const { rehearse } = await import('./commands/rehearse.js');
    await rehearse({
      cwd: (values.cwd as string) ?? process.cwd(),
      env: values.env as string | undefined,
      app: values.app as string | undefined,
      base: values.base as string | undefined,
      changedOnly: values['changed-only'] as boolean | undefined,
      format: oneOf(values.format, FORMATS.rehearse, '--format'),
    });
  },
  async diff(argv) {
    const { values, positionals } = parse('diff', argv);
    if (positionals.length) throw new UsageError(`diff takes no positional arguments (got ${positionals.join(' ')})`);
    const { diff } = await import('./commands/diff.js');
    await diff({
      cwd: (values.cwd as string) ?? process.cwd(),
      base: values.base as string | undefined,
      head: values.head as string | undefined,
      format: oneOf(values.format, FORMATS.diff, '--format'),
      allowRemote: values['allow-remote'] as boolean | undefined,
      progress: true,
    });
  },
  async schemas(argv) {
    const { values, positionals } = parse('schemas', argv);
    const { schemas } = await import('./commands/schemas.js');
    await schemas({ cwd: (values.cwd as string) ?? process.cwd(), inputs: positionals, out: values.out as string | undefined, kubernetesVersion: values['kubernetes-version'] as string | undefined });
  },
  async bump(argv) {
    const { values, positionals } = parse('bump', argv);
    const [app, env, image] = positionalArgs('bump', positionals, ['app', 'env', 'image-ref']);
    const { bump } = await import('./commands/bump.js');
    await bump({ cwd: (values.cwd as string) ?? process.cwd(), app, env, image, resolve: !values['no-resolve'], ...releaseFlags(values) });
  },
  async promote(argv) {
    const { values, positionals } = parse('promote', argv);
    const [app, env] = positionalArgs('promote', positionals, ['app', 'env']);
    const { promote } = await import('./commands/promote.js');
    await promote({ cwd: (values.cwd as string) ?? process.cwd(), app, env, from: values.from as string | undefined, resolve: !values['no-resolve'], allowDowngrade: values['allow-downgrade'] === true, requireHealthy: values['require-healthy'] === true, kubeconfig: values.kubeconfig as string | undefined, ...releaseFlags(values) });
  },
  async scale(argv) {
    const { values, positionals } = parse('scale', argv);
    const [app, env, replicas] = positionalArgs('scale', positionals, ['app', 'env', 'replicas']);
    const { scale } = await import('./commands/scale.js');
    await scale({ cwd: (values.cwd as string) ?? process.cwd(), app, env, replicas, workload: values.workload as string | undefined, ...releaseFlags(values) });
  },
  async rollback(argv) {
    const { values, positionals } = parse('rollback', argv);
    const [app, env] = positionalArgs('rollback', positionals, ['app', 'env']);
    const { rollback } = await import('./commands/rollback.js');
    await rollback({ cwd: (values.cwd as string) ?? process.cwd(), app, env, to: values.to as string | undefined, steps: values.steps as string | undefined, ...releaseFlags(values) });
  },
  async init(argv) {
    const { values, positionals } = parse('init', argv);
    if (positionals.length) throw new UsageError(`init takes no positional arguments (got ${positionals.join(' ')})`);
    const { init } = await import('./commands/init.js');
    await init({ cwd: (values.cwd as string) ?? process.cwd(), force: values.force === true });
  },
  async status(argv) {
    const { values, positionals } = parse('status', argv);
    if (positionals.length) throw new UsageError(`status takes no positional arguments (got ${positionals.join(' ')})`);
    const { status } = await import('./commands/status.js');
    await status({ cwd: (values.cwd as string) ?? process.cwd(), format: oneOf(values.format, FORMATS.status, '--format'), registry: !values['no-registry'], kubeconfig: values.kubeconfig as string | undefined });
  },
};

function releaseFlags(values: Record<string, unknown>): { dryRun: boolean; noPr: boolean } {
  return { dryRun: values['dry-run'] === true, noPr: values['no-pr'] === true };
}

function positionalArgs(command: string, positionals: string[], names: string[]): string[] {
  if (positionals.length !== names.length) {
    throw new UsageError(`${command} takes ${names.map((n) => `<${n}>`).join(' ')} (got ${positionals.length ? positionals.join(' ') : 'nothing'})`, `usage: ${usageLine(command)}; see npm run ${command} -- --help`);
  }
  return positionals;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const handler = name ? commands[name] : undefined;
  try {
    if (!name || name === '--help' || name === '-h' || name === 'help') {
      process.stdout.write(`${overview()}\n`);
      return name ? 0 : 2;
    }
    if (!handler) {
      const guess = closest(name, Object.keys(commands));
      throw new UsageError(`unknown command '${name}'${guess ? `; did you mean '${guess}'?` : ''}`, `commands: ${Object.keys(commands).join(', ')}`);
    }
    if (wantsHelp(rest) && COMMANDS[name]) {
      process.stdout.write(`${helpText(name)}\n`);
      return 0;
    }
    await handler(rest);
    return 0;
  } catch (e) {
    if (e instanceof GitopsError) {
      process.stderr.write(redactText(`error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`));
      return e.exitCode;
    }
    process.stderr.write(redactText(`unexpected error: ${(e as Error).stack ?? e}\n`));
    return 70;
  }
}

/** The commands main() runs (tests check each has a declared spec). */
export function commandNames(): string[] {
  return Object.keys(commands);
}

export function register(name: string, handler: Handler): void {
  commands[name] = handler;
}

/**
 * What the entry point does: runs `main` and sets the exit code. An interrupt (Ctrl-C, a CI
 * cancel) runs the cleanups of core/cleanup.ts (the local API server, network git commands in
 * process groups of their own), then exits 130 or 143.
 */
export async function runAsEntryPoint(argv: string[] = process.argv.slice(2)): Promise<void> {
  onCleanup(() => {}); // the handlers are in place from the start, whatever registers later
  process.exitCode = await main(argv);
}

// Run only as the entry point (or through tools/run.mjs), so tests can import the command table.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await runAsEntryPoint();
