// What each command accepts, declared once: the parser, `--help`, the closest-flag suggestion and
// the workflow test (every flag a workflow passes must be declared here) all read this table.
import { parseArgs } from 'node:util';
import { UsageError } from '../core/errors.js';
import { FORMATS } from '../core/formats.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** Placeholder shown in help for a string option. */
  value?: string;
  description: string;
}

export interface CommandSpec {
  summary: string;
  /** Positional arguments as shown in the usage line. */
  args: string;
  options: Record<string, OptionSpec>;
  examples: string[];
}

const RELEASE: Record<string, OptionSpec> = {
  'dry-run': { type: 'boolean', description: 'print the change and the pull request it would open; touch nothing' },
  'no-pr': { type: 'boolean', description: 'commit on a local branch only: no push, no pull request' },
};

/** Accepted by every command. */
export const COMMON: Record<string, OptionSpec & { short?: string }> = {
  cwd: { type: 'string', value: 'DIR', description: 'repository root (default: the current directory)' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

export const COMMANDS: Record<string, CommandSpec> = {
  setup: {
    summary: 'build the pinned tools (kustomize, kubeconform, actionlint, ...) into .tools/bin and install Renovate for the tests',
    args: '',
    options: {
      'test-deps': { type: 'boolean', description: "also install the tests' Debian packages (as root)" },
      helm: { type: 'boolean', description: 'also build the pinned helm (built anyway when an argocd-cm enables helm)' },
      rehearse: { type: 'boolean', description: "also build the sync rehearsal's kube-controller-manager, kube-scheduler and kwok" },
      'argocd-binary': { type: 'string', value: 'FILE', description: "install this released argocd binary (the pinned version, sha256 checked against tools/go/argocd/release-checksums.txt) instead of building it; argocd-helper is still built" },
    },
    examples: ['npm run setup', 'npm run setup -- --test-deps', 'npm run setup -- --helm', 'npm run setup -- --rehearse', 'npm run setup -- --argocd-binary ~/Downloads/argocd-linux-amd64'],
  },
  validate: {
    summary: 'render every overlay and cluster entry point and check schemas, policies and cross-resource rules',
    args: '[SHARD.json... with --merge]',
    options: {
      env: { type: 'string', value: 'ENV', description: 'only this environment' },
      app: { type: 'string', value: 'APP', description: 'only this app (id or unambiguous suffix)' },
      format: { type: 'string', value: FORMATS.validate.join('|'), description: 'report format (github: workflow annotations; sarif: code scanning)' },
      base: { type: 'string', value: 'REF', description: 'compare with this revision (immutable fields; with --changed-only, what changed)' },
      'changed-only': { type: 'boolean', description: 'only the targets whose files changed since the base' },
      'new-only': { type: 'boolean', description: 'report only findings the base revision does not already have (adoption)' },
      'allow-remote': { type: 'boolean', description: 'allow remote (pinned) kustomize bases, fetched over the network' },
      server: { type: 'string', value: 'KUBECONFIG[:CONTEXT]', description: 'dry-run against that cluster instead of the local kube-apiserver (read-only)' },
      'no-server': { type: 'boolean', description: 'skip the server-side dry run' },
      shard: { type: 'string', value: 'i/n', description: 'only shard i of n (whole clusters, the same split in every job of a CI matrix)' },
      merge: { type: 'boolean', description: "print one report from the shards' JSON reports given as arguments, exit 1 on any error" },
      rehearse: { type: 'boolean', description: 'also rehearse the sync: the real Argo CD syncs into simulated clusters (npm run rehearse)' },
    },
    examples: [
      'npm run validate',
      'npm run validate -- --shard 1/2 --format json > shard-1.json',
      'npm run validate -- --merge shard-1.json shard-2.json',
      'npm run validate -- --server ~/.kube/config:minikube',
      'npm run validate -- --app nofluxo/backend --env prod',
      'npm run validate -- --base origin/main --changed-only --format github',
      'npm run validate -- --format sarif > validate.sarif',
    ],
  },
  rehearse: {
    summary: 'the real Argo CD syncs the base, then the change, into simulated copies of the clusters: sync, health, hooks, waves, prunes, unschedulable Pods per Application',
    args: '',
    options: {
      env: { type: 'string', value: 'ENV', description: 'only the cluster of this environment' },
      app: { type: 'string', value: 'APP', description: 'report only this app (id or unambiguous suffix)' },
      format: { type: 'string', value: FORMATS.rehearse.join('|'), description: 'report format' },
      base: { type: 'string', value: 'REF', description: 'revision synced first (default: the merge base with the default branch); the change is the working tree' },
      'changed-only': { type: 'boolean', description: 'only the Applications whose files changed since the base' },
    },
    examples: ['npm run rehearse', 'npm run rehearse -- --env dev --app nofluxo/backend', 'npm run rehearse -- --base origin/main --changed-only --format sarif > rehearse.sarif'],
  },
  schemas: {
    summary: "convert an OpenAPI document or CRD manifests into kubeconform's schema layout (.cache/schemas)",
    args: '[FILE|-]...',
    options: {
      out: { type: 'string', value: 'DIR', description: 'output folder (default .cache/schemas)' },
      'kubernetes-version': { type: 'string', value: 'V', description: 'Kubernetes version folder of an OpenAPI document' },
    },
    examples: ['kubectl get --raw /openapi/v2 | npm run schemas -- -', 'npm run schemas -- crds/*.yaml'],
  },
  diff: {
    summary: 'rendered per-app, per-object diff between a base revision and the working tree (or --head)',
    args: '',
    options: {
      base: { type: 'string', value: 'REF', description: 'base revision (default: merge base with origin/<default branch>)' },
      head: { type: 'string', value: 'REF', description: 'head revision (default: the working tree)' },
      format: { type: 'string', value: FORMATS.diff.join('|'), description: 'output format' },
      'allow-remote': { type: 'boolean', description: 'allow remote (pinned) kustomize bases, fetched over the network' },
    },
    examples: ['npm run diff', 'npm run diff -- --base origin/main --format markdown'],
  },
  bump: {
    summary: "pin an image in an environment's overlay, as a pull request",
    args: '<app> <env> <image-ref>',
    options: { 'no-resolve': { type: 'boolean', description: 'do not resolve a tag to its digest at the registry' }, ...RELEASE },
    examples: ['npm run bump -- nofluxo/backend dev registry.kubernetes.crianex.com/nofluxo-backend:1.2.0', 'npm run bump -- backend dev registry.kubernetes.crianex.com/nofluxo-backend:1.2.0 --dry-run'],
  },
  promote: {
    summary: 'copy the release (image pins) from the environment <env> promotes from, as a pull request',
    args: '<app> <env>',
    options: {
      from: { type: 'string', value: 'ENV', description: 'promote from this environment instead of the configured one' },
      'no-resolve': { type: 'boolean', description: 'do not resolve a tag-only source pin to its digest' },
      'require-healthy': { type: 'boolean', description: "refuse unless the source environment's Argo CD Application is Synced and Healthy at the release (read-only, through --kubeconfig)" },
      kubeconfig: { type: 'string', value: 'FILE[:CONTEXT]', description: "kubeconfig of the source environment's cluster for --require-healthy (default $KUBECONFIG, ~/.kube/config)" },
      'allow-downgrade': { type: 'boolean', description: 'promote even when the source runs an older release than the target (semver, else registry build time)' },
      ...RELEASE,
    },
    examples: ['npm run promote -- nofluxo/backend prod', 'npm run promote -- backend prod --dry-run'],
  },
  scale: {
    summary: "set a workload's replicas in an environment's overlay, as a pull request",
    args: '<app> <env> <replicas>',
    options: { workload: { type: 'string', value: 'NAME', description: 'the Deployment or StatefulSet (when the app has several)' }, ...RELEASE },
    examples: ['npm run scale -- automation/worker prod 3'],
  },
  rollback: {
    summary: 'pin an earlier image from git history, as a pull request',
    args: '<app> <env>',
    options: {
      to: { type: 'string', value: 'DIGEST', description: 'the digest to go back to (default: the previous pin)' },
      steps: { type: 'string', value: 'N', description: 'go back N pins' },
      ...RELEASE,
    },
    examples: ['npm run rollback -- nofluxo/backend prod', 'npm run rollback -- nofluxo/backend prod --steps 2'],
  },
  init: {
    summary: "write gitops.yaml from the repository's Argo CD objects: clusters, environments, the Application mapping",
    args: '',
    options: { force: { type: 'boolean', description: 'overwrite an existing gitops.yaml' } },
    examples: ['npm run init', 'npm run init -- --force'],
  },
  status: {
    summary: 'every app by environment: tag, short digest, what waits to be promoted',
    args: '',
    options: {
      format: { type: 'string', value: FORMATS.status.join('|'), description: 'output format (html: the promotion board, one self-contained page)' },
      'no-registry': { type: 'boolean', description: 'never ask a registry for build times: differing non-semver pins show as differs' },
      kubeconfig: { type: 'string', value: 'ENV=FILE[:CONTEXT],...', description: "html: read each listed environment's Argo CD Applications (read-only) to show sync and health on the board" },
    },
    examples: ['npm run status', 'npm run status -- --format json', 'npm run status -- --format html > board.html'],
  },
  'pr-report': {
    summary: "the pull request's comment and job summary from validate's and diff's JSON reports",
    args: '',
    options: {
      validation: { type: 'string', value: 'FILE', description: 'output of validate --format json' },
      diff: { type: 'string', value: 'FILE', description: 'output of diff --format json' },
      rehearsal: { type: 'string', value: 'FILE', description: 'output of rehearse --format json (the "Sync rehearsal" section)' },
      out: { type: 'string', value: 'FILE', description: 'write here instead of stdout' },
    },
    examples: ['npm run pr-report -- --validation validate.json --diff diff.json --out comment.md'],
  },
  'pr-comment': {
    summary: "create or update (in place) the pull request's one sticky comment, found by its hidden marker",
    args: '',
    options: {
      pr: { type: 'string', value: 'N', description: 'pull request number' },
      validation: { type: 'string', value: 'FILE', description: 'output of validate --format json (read as untrusted data; the comment is rebuilt from it)' },
      diff: { type: 'string', value: 'FILE', description: 'output of diff --format json (idem)' },
      'head-sha': { type: 'string', value: 'SHA', description: "comment only while the pull request's head is this commit" },
      repo: { type: 'string', value: 'OWNER/NAME', description: 'repository (default GITHUB_REPOSITORY)' },
      author: { type: 'string', value: 'LOGIN', description: 'whose marked comment is updated (default github-actions[bot])' },
    },
    examples: ['GITHUB_TOKEN=... npm run pr-comment -- --pr 42 --head-sha <sha> --validation validate.json --diff diff.json'],
  },
};

/** Edit distance (insertions, deletions, substitutions). */
export function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The candidate closest to `input`, if close enough to be a typo (or `input` is a prefix of it). */
export function closest(input: string, candidates: string[]): string | undefined {
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = c.startsWith(input) ? 0.5 : distance(input, c);
    if (!best || d < best.d) best = { c, d };
  }
  return best && best.d <= Math.max(2, Math.floor(input.length / 3)) ? best.c : undefined;
}

export function usageLine(name: string): string {
  const spec = COMMANDS[name]!;
  const opts = Object.entries(spec.options).map(([k, o]) => `[--${k}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}]`);
  return [`npm run ${name} --`, spec.args, ...opts].filter(Boolean).join(' ');
}

export function helpText(name: string): string {
  const spec = COMMANDS[name]!;
  const rows = Object.entries({ ...spec.options, ...COMMON }).map(([k, o]) => [`--${k}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}${'short' in o && o.short ? `, -${o.short}` : ''}`, o.description]);
  const width = Math.max(...rows.map(([l]) => l!.length));
  return [
    `${name}: ${spec.summary}`,
    '',
    `usage: ${usageLine(name)}`,
    '',
    'options:',
    ...rows.map(([l, d]) => `  ${l!.padEnd(width)}  ${d}`),
    '',
    'examples:',
    ...spec.examples.map((e) => `  ${e}`),
  ].join('\n');
}

export function overview(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  return [
    'usage: npm run <command> -- [options]   (npm run <command> -- --help for its options and examples)',
    '',
    ...Object.entries(COMMANDS).map(([n, s]) => `  ${n.padEnd(width)}  ${s.summary}`),
  ].join('\n');
}

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** True when the arguments ask for help (before a `--` that ends the options). */
export function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** Parses a command's arguments strictly; an unknown flag names the closest declared one. */
export function parseCommand(name: string, argv: string[]): Parsed {
  const spec = COMMANDS[name];
  if (!spec) throw new UsageError(`unknown command '${name}'`);
  const options = Object.fromEntries(Object.entries({ ...spec.options, ...COMMON }).map(([k, o]) => [k, { type: o.type, ...('short' in o && o.short ? { short: o.short } : {}) }]));
  // `scale app env -1`, `--steps -2`: a negative number, not an unknown or ambiguous option.
  const negative = argv.find((a) => /^-\d/.test(a));
  if (negative) throw new UsageError(`${name}: '${negative}' is a negative number; counts are whole numbers from 0 up, written in plain decimal digits`, `usage: ${usageLine(name)}`);
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as Parsed;
  } catch (e) {
    const err = e as { code?: string; message: string };
    const hint = `npm run ${name} -- --help`;
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'(-{1,2}[^'=]+)/.exec(err.message)?.[1] ?? '';
      const guess = closest(flag.replace(/^-+/, ''), Object.keys({ ...spec.options, ...COMMON }));
      throw new UsageError(`${name}: unknown option '${flag}'${guess ? `; did you mean '--${guess}'?` : ''}`, `see ${hint}`);
    }
    throw new UsageError(`${name}: ${err.message.split('\n')[0]}`, `usage: ${usageLine(name)}; see ${hint}`);
  }
}
