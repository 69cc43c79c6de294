// Validates requests and responses against GitHub's published OpenAPI description (@octokit/openapi),
// so the fake API cannot drift from what real GitHub accepts and returns.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';

// ajv-formats is CommonJS; under NodeNext its default export sits on `.default`.
const addFormats = addFormatsImport.default;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

interface RawParameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: JsonObject;
}

interface RawOperation {
  operationId: string;
  parameters?: (RawParameter | { $ref: string })[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonObject }> };
  responses: Record<string, { $ref?: string; content?: Record<string, { schema?: JsonObject }> }>;
}

interface RawSpec {
  paths: Record<string, Record<string, RawOperation>>;
  components: {
    schemas: Record<string, JsonObject>;
    parameters: Record<string, RawParameter>;
    responses: Record<string, { content?: Record<string, { schema?: JsonObject }> }>;
  };
}

export interface Operation {
  operationId: string;
  method: string;
  pathTemplate: string;
  raw: RawOperation;
}

export interface MatchedOperation {
  operation: Operation;
  pathParams: Record<string, string>;
}

export interface RequestInput {
  pathParams: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body, or undefined when the request had none. */
  body: unknown;
}

const SPEC_ID = 'https://api.github.com/openapi.json';
const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/**
 * OpenAPI 3.0 `nullable: true` is not JSON Schema: turn it into a type union (or an anyOf with null when the
 * schema is a composition or a $ref, whose own types would otherwise reject null), and make local $refs absolute
 * so every compiled schema resolves into the one registered components document.
 */
export function toJsonSchema(node: Json): Json {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'nullable' && typeof v === 'boolean') continue;
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/')) out[k] = `${SPEC_ID}${v}`;
    else out[k] = toJsonSchema(v);
  }
  if (node.nullable !== true) return out;
  if ('$ref' in out || 'allOf' in out || 'oneOf' in out || 'anyOf' in out || out.type === undefined) {
    return { anyOf: [out, { type: 'null' }] };
  }
  if (typeof out.type === 'string') out.type = [out.type, 'null'];
  if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  return out;
}

function formatErrors(errors: ErrorObject[] | null | undefined, limit = 8): string {
  const list = (errors ?? []).slice(0, limit).map((e) => {
    const where = e.instancePath || '/';
    const extra = e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : '';
    return `${where} ${e.message ?? e.keyword}${extra} [${e.schemaPath}]`;
  });
  const more = (errors?.length ?? 0) > limit ? `; …${errors!.length - limit} more` : '';
  return list.join('; ') + more;
}

export class OpenApiValidator {
  private readonly spec: RawSpec;
  private readonly ajv: Ajv;
  /** Parameters arrive as strings; a separate coercing instance checks them without mutating bodies. */
  private readonly ajvParams: Ajv;
  private readonly cache = new Map<string, ValidateFunction>();
  private routes?: { op: Operation; regex: RegExp; names: string[]; literal: number }[];

  private constructor(spec: RawSpec) {
    this.spec = spec;
    const doc = { $id: SPEC_ID, components: { schemas: toJsonSchema(spec.components.schemas as Json) } };
    const make = (coerceTypes: boolean) => {
      const ajv = new Ajv({
        strict: false,
        allErrors: true,
        coerceTypes,
        validateSchema: false, // the spec is trusted; validating 13 MB against the meta-schema is slow
        logger: { log() {}, warn() {}, error: console.error }, // unknown formats (repo.nwo…) are ignored quietly
      });
      addFormats(ajv);
      ajv.addSchema(doc);
      return ajv;
    };
    this.ajv = make(false);
    this.ajvParams = make(true);
  }

  static async load(file = defaultSpecPath()): Promise<OpenApiValidator> {
    const spec = JSON.parse(await readFile(file, 'utf8')) as RawSpec;
    return new OpenApiValidator(spec);
  }

  /** Finds the operation for a method and concrete path; literal segments win over parameters, as on GitHub. */
  findOperation(method: string, pathname: string): MatchedOperation | undefined {
    this.routes ??= this.buildRoutes();
    const m = method.toLowerCase();
    let best: { op: Operation; params: Record<string, string>; literal: number } | undefined;
    for (const route of this.routes) {
      if (route.op.method !== m) continue;
      const hit = route.regex.exec(pathname);
      if (!hit) continue;
      if (best && best.literal >= route.literal) continue;
      const params: Record<string, string> = {};
      route.names.forEach((n, i) => {
        params[n] = decodeURIComponent(hit[i + 1]!);
      });
      best = { op: route.op, params, literal: route.literal };
    }
    return best && { operation: best.op, pathParams: best.params };
  }

  getOperation(operationId: string): Operation | undefined {
    this.routes ??= this.buildRoutes();
    return this.routes.find((r) => r.op.operationId === operationId)?.op;
  }

  private buildRoutes() {
    const routes: { op: Operation; regex: RegExp; names: string[]; literal: number }[] = [];
    for (const [template, item] of Object.entries(this.spec.paths)) {
      const names: string[] = [];
      const pattern = template
        .split(/(\{[^}]+\})/)
        .map((part) => {
          const p = /^\{([^}]+)\}$/.exec(part);
          if (p) {
            names.push(p[1]!);
            return '([^/]+)';
          }
          return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        })
        .join('');
      const regex = new RegExp(`^${pattern}/?$`);
      const literal = template.replace(/\{[^}]+\}/g, '').length;
      for (const [method, raw] of Object.entries(item)) {
        if (!HTTP_METHODS.has(method)) continue;
        routes.push({ op: { operationId: raw.operationId, method, pathTemplate: template, raw }, regex, names, literal });
      }
    }
    return routes;
  }

  private parameters(op: Operation): RawParameter[] {
    return (op.raw.parameters ?? []).map((p) => {
      if ('$ref' in p) {
        const name = p.$ref.replace('#/components/parameters/', '');
        const resolved = this.spec.components.parameters[name];
        if (!resolved) throw new Error(`unresolvable parameter ${p.$ref} in ${op.operationId}`);
        return resolved;
      }
      return p;
    });
  }

  private compile(key: string, schema: Json, coerce: boolean): ValidateFunction {
    let fn = this.cache.get(key);
    if (!fn) {
      fn = (coerce ? this.ajvParams : this.ajv).compile(toJsonSchema(schema) as object);
      this.cache.set(key, fn);
    }
    return fn;
  }

  /**
   * Problems with a request: `errors` GitHub would reject (422), `warnings` it would silently ignore
   * (unknown query parameters), which usually mean a client bug all the same.
   */
  validateRequest(op: Operation, input: RequestInput): { errors: string[]; warnings: string[] } {
    const problems: string[] = [];
    const warnings: string[] = [];
    const params = this.parameters(op);
    for (const location of ['path', 'query'] as const) {
      const defs = params.filter((p) => p.in === location);
      const values: Record<string, string> = {};
      if (location === 'path') Object.assign(values, input.pathParams);
      else {
        const known = new Set(defs.map((d) => d.name));
        for (const [k, v] of input.query) {
          if (!known.has(k)) warnings.push(`unknown query parameter "${k}" (GitHub ignores it)`);
          else values[k] = v;
        }
      }
      const schema: JsonObject = {
        type: 'object',
        properties: Object.fromEntries(defs.map((d) => [d.name, (d.schema ?? {}) as Json])),
        required: defs.filter((d) => d.required || location === 'path').map((d) => d.name),
      };
      const validate = this.compile(`${op.operationId}:${location}`, schema, true);
      if (!validate({ ...values })) problems.push(`${location} parameters: ${formatErrors(validate.errors)}`);
    }

    const rb = op.raw.requestBody;
    const bodySchema = rb?.content?.['application/json']?.schema;
    if (input.body === undefined) {
      if (rb?.required) problems.push('request body is required');
    } else if (!bodySchema) {
      if (op.method !== 'get' && op.method !== 'head') problems.push('operation takes no JSON request body');
    } else {
      const validate = this.compile(`${op.operationId}:body`, bodySchema, false);
      if (!validate(input.body)) problems.push(`request body: ${formatErrors(validate.errors)}`);
    }
    return { errors: problems, warnings };
  }

  /**
   * Returns problems with a response body. Statuses the operation does not document are checked as GitHub's
   * generic error shape when >= 400 (401s and injected 5xx are real GitHub behaviour on every endpoint).
   */
  validateResponse(op: Operation, status: number, body: unknown): string[] {
    let response = op.raw.responses[String(status)];
    if (response?.$ref) response = this.spec.components.responses[response.$ref.replace('#/components/responses/', '')];
    if (!response) {
      if (status >= 400) {
        const validate = this.compile('basic-error', { $ref: '#/components/schemas/basic-error' }, false);
        return validate(body) ? [] : [`${status} error body: ${formatErrors(validate.errors)}`];
      }
      return [`status ${status} is not documented for ${op.operationId}`];
    }
    const schema = response.content?.['application/json']?.schema;
    if (!schema) return body === undefined || body === '' ? [] : [`status ${status} documents no JSON body`];
    const validate = this.compile(`${op.operationId}:${status}`, schema, false);
    return validate(body) ? [] : [`${status} response body: ${formatErrors(validate.errors)}`];
  }
}

export function defaultSpecPath(): string {
  return createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.json');
}

let shared: Promise<OpenApiValidator> | undefined;
/** Loading and converting the 13 MB description takes a moment: share one validator per process. */
export function sharedValidator(): Promise<OpenApiValidator> {
  shared ??= OpenApiValidator.load();
  return shared;
}
