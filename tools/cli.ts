#!/usr/bin/env node
// One entry point: parses arguments, runs one command, turns typed errors into exit codes.
import { parseArgs } from 'node:util';
import { GitopsError, UsageError } from './lib/errors.js';
import { redactText } from './lib/redact.js';

type Handler = (argv: string[]) => Promise<void>;

const USAGE = `usage: npm run <command> -- [options]
  setup [--test-deps] [--helm]  install the pinned kustomize and kubeconform (the tests' Debian packages, the pinned helm)
  validate [--env E] [--app A] [--format text|json|github] [--base REF] [--changed-only] [--allow-remote] [--shard i/n]
  validate --merge [--format text|json|github] SHARD.json...   one report from the shards' JSON reports
  schemas [--out DIR] [--kubernetes-version V] [FILE|-]...
  diff [--base REF] [--format text|markdown|json] [--allow-remote]
  bump <app> <env> <image-ref> [--no-resolve] [--dry-run] [--no-pr]
  promote <app> <env> [--from ENV] [--no-resolve] [--dry-run] [--no-pr]
  scale <app> <env> <replicas> [--workload NAME] [--dry-run] [--no-pr]
  rollback <app> <env> [--to DIGEST | --steps N] [--dry-run] [--no-pr]
  status [--format text|json]`;

type Parsed = { values: Record<string, string | boolean | undefined>; positionals: string[] };

function parse(argv: string[], options: NonNullable<Parameters<typeof parseArgs>[0]>['options'] = {}): Parsed {
  try {
    return parseArgs({ args: argv, options: { cwd: { type: 'string' }, ...options }, allowPositionals: true, strict: true }) as Parsed;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`);
  }
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')} (got '${value}')`);
  return value as T;
}

const commands: Record<string, Handler> = {
  async setup(argv) {
    const { values } = parse(argv, { 'test-deps': { type: 'boolean' }, helm: { type: 'boolean' } });
    const { setup } = await import('./commands/setup.js');
    await setup({ cwd: (values.cwd as string) ?? process.cwd(), testDeps: values['test-deps'] as boolean | undefined, helm: values.helm as boolean | undefined });
  },
  async validate(argv) {
    const { values, positionals } = parse(argv, { env: { type: 'string' }, app: { type: 'string' }, format: { type: 'string' }, base: { type: 'string' }, 'changed-only': { type: 'boolean' }, 'allow-remote': { type: 'boolean' }, shard: { type: 'string' }, merge: { type: 'boolean' } });
    const format = oneOf(values.format, ['text', 'json', 'github'] as const, '--format');
    if (values.merge) {
      if (!positionals.length) throw new UsageError('validate --merge takes the JSON reports of the shards (validate --shard i/n --format json > shard-i.json)');
      const { mergeReports } = await import('./commands/validate.js');
      await mergeReports({ files: positionals, format, cwd: (values.cwd as string) ?? process.cwd() });
      return;
    }
    if (positionals.length) throw new UsageError(`validate takes no positional arguments (got ${positionals.join(' ')})`);
    let shard: { index: number; count: number } | undefined;
    if (values.shard !== undefined) {
      const m = /^(\d+)\/(\d+)$/.exec(values.shard as string);
      if (!m || +m[1] < 1 || +m[1] > +m[2]) throw new UsageError(`--shard must be i/n with 1 <= i <= n (got '${values.shard}')`);
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
      allowRemote: values['allow-remote'] as boolean | undefined,
    });
  },
  async diff(argv) {
    const { values, positionals } = parse(argv, { base: { type: 'string' }, head: { type: 'string' }, format: { type: 'string' }, 'allow-remote': { type: 'boolean' } });
    if (positionals.length) throw new UsageError(`diff takes no positional arguments (got ${positionals.join(' ')})`);
    const { diff } = await import('./commands/diff.js');
    await diff({
      cwd: (values.cwd as string) ?? process.cwd(),
      base: values.base as string | undefined,
      head: values.head as string | undefined,
      format: oneOf(values.format, ['text', 'markdown', 'json'] as const, '--format'),
      allowRemote: values['allow-remote'] as boolean | undefined,
    });
  },
  async schemas(argv) {
    const { values, positionals } = parse(argv, { out: { type: 'string' }, 'kubernetes-version': { type: 'string' } });
    const { schemas } = await import('./commands/schemas.js');
    await schemas({ cwd: (values.cwd as string) ?? process.cwd(), inputs: positionals, out: values.out as string | undefined, kubernetesVersion: values['kubernetes-version'] as string | undefined });
  },
  async bump(argv) {
    const { values, positionals } = parse(argv, { 'no-resolve': { type: 'boolean' }, ...RELEASE_FLAGS });
    const [app, env, image] = positionalArgs('bump', positionals, ['app', 'env', 'image-ref']);
    const { bump } = await import('./commands/bump.js');
    await bump({ cwd: (values.cwd as string) ?? process.cwd(), app, env, image, resolve: !values['no-resolve'], ...releaseFlags(values) });
  },
  async promote(argv) {
    const { values, positionals } = parse(argv, { from: { type: 'string' }, 'no-resolve': { type: 'boolean' }, ...RELEASE_FLAGS });
    const [app, env] = positionalArgs('promote', positionals, ['app', 'env']);
    const { promote } = await import('./commands/promote.js');
    await promote({ cwd: (values.cwd as string) ?? process.cwd(), app, env, from: values.from as string | undefined, resolve: !values['no-resolve'], ...releaseFlags(values) });
  },
  async scale(argv) {
    const { values, positionals } = parse(argv, { workload: { type: 'string' }, ...RELEASE_FLAGS });
    const [app, env, replicas] = positionalArgs('scale', positionals, ['app', 'env', 'replicas']);
    const { scale } = await import('./commands/scale.js');
    await scale({ cwd: (values.cwd as string) ?? process.cwd(), app, env, replicas, workload: values.workload as string | undefined, ...releaseFlags(values) });
  },
  async rollback(argv) {
    const { values, positionals } = parse(argv, { to: { type: 'string' }, steps: { type: 'string' }, ...RELEASE_FLAGS });
    const [app, env] = positionalArgs('rollback', positionals, ['app', 'env']);
    const { rollback } = await import('./commands/rollback.js');
    await rollback({ cwd: (values.cwd as string) ?? process.cwd(), app, env, to: values.to as string | undefined, steps: values.steps as string | undefined, ...releaseFlags(values) });
  },
  async status(argv) {
    const { values, positionals } = parse(argv, { format: { type: 'string' } });
    if (positionals.length) throw new UsageError(`status takes no positional arguments (got ${positionals.join(' ')})`);
    const { status } = await import('./commands/status.js');
    await status({ cwd: (values.cwd as string) ?? process.cwd(), format: oneOf(values.format, ['text', 'json'] as const, '--format') });
  },
};

/** Flags shared by bump, promote, scale and rollback. */
const RELEASE_FLAGS = { 'dry-run': { type: 'boolean' }, 'no-pr': { type: 'boolean' } } as const;

function releaseFlags(values: Record<string, unknown>): { dryRun: boolean; noPr: boolean } {
  return { dryRun: values['dry-run'] === true, noPr: values['no-pr'] === true };
}

function positionalArgs(command: string, positionals: string[], names: string[]): string[] {
  if (positionals.length !== names.length) {
    throw new UsageError(`${command} takes ${names.map((n) => `<${n}>`).join(' ')} (got ${positionals.length ? positionals.join(' ') : 'nothing'})\n${USAGE}`);
  }
  return positionals;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const handler = name ? commands[name] : undefined;
  try {
    if (!handler) throw new UsageError(name ? `unknown command '${name}'\n${USAGE}` : USAGE);
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

export function register(name: string, handler: Handler): void {
  commands[name] = handler;
}

// Interrupted (Ctrl-C, a CI cancel): fetches and pushes run in process groups of their own, so end them too.
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(sig, () => {
    void import('./lib/git.js').then(({ killNetworkChildren }) => killNetworkChildren()).finally(() => process.exit(code));
  });
}

process.exitCode = await main(process.argv.slice(2));
