import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ValidateFunction, ErrorObject } from 'ajv';
import { parse } from 'yaml';
import { ConfigError } from '../core/errors.js';
import { REDACTED, sensitiveKey } from '../core/redact.js';
import type { K8sObject } from '../core/k8s.js';
import type { Config, Environment, PolicyLevel } from '../config/config.js';

import type { Severity } from '../core/finding.js';
import { pointerSegments, toPointer } from '../core/pointer.js';

export interface Policy {
  id: string;
  rationale: string;
  severity: Severity;
  /** `podSpec` validates the pod spec of any workload kind; `object` the whole object. */
  target: 'podSpec' | 'object';
  match?: { kinds?: string[]; environments?: string[]; requireDigests?: boolean; scope?: 'apps' | 'clusters' };
  message: string;
  hint?: string;
  schema: object;
  file: string;
}

export interface PolicyContext {
  env?: Environment;
  /** App id when the object comes from an app overlay. */
  app?: string;
  scope: 'apps' | 'clusters';
  exemptionPrefix: string;
  /** gitops.yaml levels for this object's environment: policy id -> severity or off. */
  levels?: Record<string, PolicyLevel>;
}

/** The levels gitops.yaml sets for one environment: policies.severity, then the environment's own. */
export function policyLevels(config: Pick<Config, 'policySeverity'>, env?: Environment): Record<string, PolicyLevel> {
  return { ...config.policySeverity, ...(env?.policies ?? {}) };
}

export interface PolicyViolation {
  rule: string;
  severity: Severity;
  message: string;
  /** JSON pointer into the object. */
  path: string;
  exempted?: string;
}

const POLICY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'rationale', 'severity', 'target', 'message', 'schema'],
  properties: {
    id: { type: 'string', pattern: '^[a-z0-9-]+$' },
    rationale: { type: 'string', minLength: 1 },
    severity: { enum: ['error', 'warning', 'info'] },
    target: { enum: ['podSpec', 'object'] },
    match: {
      type: 'object',
      additionalProperties: false,
      properties: {
        kinds: { type: 'array', items: { type: 'string' } },
        environments: { type: 'array', items: { type: 'string' } },
        requireDigests: { type: 'boolean' },
        scope: { enum: ['apps', 'clusters'] },
      },
    },
    message: { type: 'string' },
    hint: { type: 'string' },
    schema: { type: 'object' },
  },
};

/** Pod spec location per workload kind (JSON pointer prefix). */
const POD_SPEC: Record<string, string[]> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

export function podSpecOf(o: K8sObject): { spec: Record<string, unknown>; pointer: string } | undefined {
  const p = POD_SPEC[o.kind];
  if (!p) return undefined;
  let cur: unknown = o;
  for (const k of p) cur = (cur as Record<string, unknown> | undefined)?.[k];
  if (typeof cur !== 'object' || cur === null) return undefined;
  return { spec: cur as Record<string, unknown>, pointer: '/' + p.join('/') };
}

export interface PolicySet {
  policies: Array<Policy & { validate: ValidateFunction }>;
}

/** Loads and compiles every policy file of a folder (tools/policies by default). */
export async function loadPolicies(dir: string, disabled: string[] = []): Promise<PolicySet> {
  // Loaded only when a policy must be compiled: a warm run has every outcome cached.
  const { Ajv } = await import('ajv');
  const ajv = new Ajv({ allErrors: true, strict: false });
  const checkPolicy = ajv.compile(POLICY_SCHEMA);
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const policies: PolicySet['policies'] = [];
  const ids = new Set<string>();
  for (const f of files) {
    const file = path.join(dir, f);
    const raw = parse(await readFile(file, 'utf8'));
    if (!checkPolicy(raw)) {
      const e = checkPolicy.errors![0];
      throw new ConfigError(file, `${e.instancePath || '(top level)'} ${e.message}`);
    }
    const p = raw as Omit<Policy, 'file'>;
    if (ids.has(p.id)) throw new ConfigError(file, `duplicate policy id '${p.id}'`);
    ids.add(p.id);
    if (disabled.includes(p.id)) continue;
    let validate: ValidateFunction;
    try {
      validate = ajv.compile(p.schema);
    } catch (e) {
      throw new ConfigError(file, `schema does not compile: ${(e as Error).message}`);
    }
    policies.push({ ...p, file, validate });
  }
  return { policies };
}

function applies(p: Policy, o: K8sObject, ctx: PolicyContext): boolean {
  const m = p.match ?? {};
  if (m.scope && m.scope !== ctx.scope) return false;
  if (m.kinds && !m.kinds.includes(o.kind)) return false;
  if (m.environments && (!ctx.env || !m.environments.includes(ctx.env.name))) return false;
  if (m.requireDigests !== undefined && (ctx.env?.requireDigests ?? false) !== m.requireDigests) return false;
  if (p.target === 'podSpec' && !POD_SPEC[o.kind]) return false;
  return true;
}

function valueAt(root: unknown, pointer: string): unknown {
  let cur = root;
  for (const seg of pointer.split('/').slice(1)) cur = (cur as Record<string, unknown> | undefined)?.[seg];
  return cur;
}

/**
 * Keeps the most specific error per location: ajv reports every branch of an anyOf;
 * the deepest instance path is the field the user has to change.
 */
function condense(errors: ErrorObject[]): ErrorObject[] {
  const sorted = [...errors].sort((a, b) => b.instancePath.length - a.instancePath.length);
  const out: ErrorObject[] = [];
  for (const e of sorted) {
    if (e.keyword === 'anyOf' || e.keyword === 'if' || e.keyword === '$ref') continue;
    if (out.some((o) => o.instancePath === e.instancePath || o.instancePath.startsWith(e.instancePath + '/'))) continue;
    out.push(e);
  }
  if (!out.length && errors.length) out.push(sorted[0]);
  return out;
}

function describe(e: ErrorObject): string {
  if (e.keyword === 'required') return `missing ${(e.params as { missingProperty: string }).missingProperty}`;
  if (e.keyword === 'const') return `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
  if (e.keyword === 'not') return 'has a forbidden value';
  if (e.keyword === 'maxProperties') return 'must be empty';
  if (e.keyword === 'pattern') return 'does not have the required form';
  return e.message ?? e.keyword;
}

/** Whether the value at `pointer` of `o` is a Secret value or sits under a sensitive key. */
function hiddenValue(o: K8sObject, pointer: string): boolean {
  const segs = pointerSegments(pointer);
  if (o.kind === 'Secret' && (segs[0] === 'data' || segs[0] === 'stringData')) return true;
  let parent: unknown = o;
  for (const [i, k] of segs.entries()) {
    const p = parent as Record<string, unknown> | undefined;
    if (p && typeof p === 'object' && !Array.isArray(p)) {
      if (sensitiveKey(k, p)) return true;
      if (k === 'value' && typeof p.name === 'string' && sensitiveKey(p.name) && i === segs.length - 1) return true;
    }
    parent = p?.[k];
  }
  return false;
}

function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => vars[k] ?? m);
}

/** Checks one rendered object against every applicable policy. */
export function checkPolicies(set: PolicySet, o: K8sObject, ctx: PolicyContext): PolicyViolation[] {
  const out: PolicyViolation[] = [];
  const annotations = o.metadata?.annotations ?? {};
  for (const p of set.policies) {
    const level = ctx.levels?.[p.id];
    if (level === 'off' || !applies(p, o, ctx)) continue;
    const severity = level ?? p.severity;
    const target = p.target === 'podSpec' ? podSpecOf(o) : { spec: o, pointer: '' };
    if (!target) continue;
    if (p.validate(target.spec)) continue;
    const reason = String(annotations[ctx.exemptionPrefix + p.id] ?? '').trim();
    if (reason) {
      out.push({ rule: p.id, severity: 'info', path: toPointer(['metadata', 'annotations', ctx.exemptionPrefix + p.id]), message: `exempted: ${reason}`, exempted: reason });
      continue;
    }
    for (const e of condense(p.validate.errors ?? [])) {
      const pointer = target.pointer + e.instancePath;
      const raw = valueAt(target.spec, e.instancePath);
      // A policy message echoes the offending value: never a Secret's or a sensitive key's.
      const value = typeof raw === 'string' && hiddenValue(o, pointer) ? REDACTED : raw;
      const container = /\/(containers|initContainers)\/(\d+)/.exec(pointer);
      const cname = container ? (valueAt(o, pointer.slice(0, container.index + container[0].length)) as { name?: string })?.name : undefined;
      const vars = { app: ctx.app ?? '<app>', env: ctx.env?.name ?? '<env>', value: typeof value === 'string' ? value : '<image>:<tag>' };
      const hint = p.hint ? `; ${fill(p.hint, vars)}` : '';
      out.push({
        rule: p.id,
        severity,
        path: pointer,
        message: `${p.message}${cname ? ` (container ${cname})` : ''}: ${typeof value === 'string' ? value : describe(e)}${hint}`,
      });
    }
  }
  // Exemptions are checked whether or not they are needed: a typo or a missing reason
  // would otherwise hide a finding the day the object regresses.
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(ctx.exemptionPrefix)) continue;
    const path = toPointer(['metadata', 'annotations', key]);
    const policy = set.policies.find((p) => ctx.exemptionPrefix + p.id === key);
    if (!policy) out.push({ rule: 'unknown-exemption', severity: 'warning', path, message: `annotation ${key} names no known policy` });
    else if (!String(value ?? '').trim()) out.push({ rule: policy.id, severity: 'error', path, message: `exemption from ${policy.id} gives no reason: the annotation's value must say why` });
  }
  return out;
}
