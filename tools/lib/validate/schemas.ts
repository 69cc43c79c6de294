// Converts Kubernetes OpenAPI v2 definitions and CRD manifests into kubeconform's
// standalone per-kind JSON Schema layout. Pure functions; the command writes the files.

type Schema = Record<string, unknown>;

export interface SchemaFile {
  /** Path relative to the output folder. */
  path: string;
  schema: Schema;
}

/** kubeconform's {{.KindSuffix}}: `-<first label of group>-<version>`, or `-<version>` for core. */
export function kindSuffix(group: string, version: string): string {
  return group ? `-${group.split('.')[0].toLowerCase()}-${version.toLowerCase()}` : `-${version.toLowerCase()}`;
}

function isObj(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Adds "null" to a schema's type, as kubeconform's published schemas do for optional fields. */
function allowNull(s: Schema): Schema {
  if (typeof s.type === 'string') return { ...s, type: [s.type, 'null'] };
  if (Array.isArray(s.type) && !s.type.includes('null')) return { ...s, type: [...s.type, 'null'] };
  return s;
}

/**
 * Inlines `#/definitions/` refs; a ref already on the current path (JSONSchemaProps is
 * self-referential) becomes an open schema instead of recursing forever.
 */
function inline(s: unknown, defs: Record<string, Schema>, strict: boolean, stack: string[]): unknown {
  if (Array.isArray(s)) return s.map((x) => inline(x, defs, strict, stack));
  if (!isObj(s)) return s;
  if (s.format === 'int-or-string') return intOrString();
  if (typeof s.$ref === 'string') {
    const id = s.$ref.replace(/^#\/definitions\//, '');
    if (stack.includes(id) || !defs[id]) return { description: s.description ?? `recursive ${id}` };
    const { $ref: _ignored, ...rest } = s;
    return { ...(inline(defs[id], defs, strict, [...stack, id]) as Schema), ...rest };
  }
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'properties' && isObj(v)) {
      const props: Schema = {};
      for (const [pk, pv] of Object.entries(v)) props[pk] = allowNull(inline(pv, defs, strict, stack) as Schema);
      out.properties = props;
    } else if (k === 'x-kubernetes-group-version-kind' && stack.length > 1) {
      // Only the top-level kind keeps its GVK marker.
    } else {
      out[k] = inline(v, defs, strict, stack);
    }
  }
  if (strict && isObj(out.properties) && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

/**
 * kubeconform's openapi2jsonschema step: a cluster's OpenAPI says `{type: string, format:
 * int-or-string}` for IntOrString, which takes `targetPort: 8080` as well as `http`.
 */
function intOrString(): Schema {
  return { oneOf: [{ type: 'string' }, { type: 'integer' }] };
}

/**
 * Quantity is `{type: string}` in a cluster's OpenAPI, yet the API server and every tool take
 * `cpu: 1`; the published kubeconform schemas say string or number (openapi2jsonschema's
 * --kubernetes), and so do these.
 */
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';

interface Gvk {
  group: string;
  version: string;
  kind: string;
}

/**
 * OpenAPI v2 document (or its bare `definitions` object) -> one standalone schema per kind,
 * at `v<version>-standalone[-strict]/<kind><suffix>.json`.
 */
export function convertDefinitions(input: unknown, k8sVersion: string, opts: { strict?: boolean[] } = {}): SchemaFile[] {
  if (!isObj(input)) throw new Error('expected a JSON object with OpenAPI definitions');
  const defs = { ...((isObj(input.definitions) ? input.definitions : input) as Record<string, Schema>) };
  if (defs[QUANTITY]) defs[QUANTITY] = { oneOf: [{ type: 'string' }, { type: 'number' }] };
  const variants = opts.strict ?? [true, false];
  const version = k8sVersion.startsWith('v') || k8sVersion === 'master' ? k8sVersion : `v${k8sVersion}`;
  const files: SchemaFile[] = [];
  let kinds = 0;
  for (const [id, def] of Object.entries(defs)) {
    const gvks = def['x-kubernetes-group-version-kind'] as Gvk[] | undefined;
    if (!Array.isArray(gvks)) continue;
    kinds++;
    for (const strict of variants) {
      const schema = inline(def, defs, strict, [id]) as Schema;
      schema.$schema = 'http://json-schema.org/schema#';
      for (const gvk of gvks) {
        // Wide-spread helper types (DeleteOptions, WatchEvent) list every group; keep
        // them, kubeconform only ever asks for the kinds that appear in manifests.
        const file = `${version}-standalone${strict ? '-strict' : ''}/${gvk.kind.toLowerCase()}${kindSuffix(gvk.group, gvk.version)}.json`;
        files.push({ path: file, schema });
      }
    }
  }
  if (!kinds) throw new Error('no definition carries x-kubernetes-group-version-kind: is this an OpenAPI v2 document (kubectl get --raw /openapi/v2)?');
  return files;
}

/** openAPIV3Schema of a CRD version -> kubeconform JSON Schema (strict adds additionalProperties: false). */
function crdSchema(s: unknown, strict: boolean): unknown {
  if (Array.isArray(s)) return s.map((x) => crdSchema(x, strict));
  if (!isObj(s)) return s;
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'properties' && isObj(v)) {
      const props: Schema = {};
      for (const [pk, pv] of Object.entries(v)) props[pk] = crdSchema(pv, strict);
      out.properties = props;
    } else if (k === 'nullable') {
      // OpenAPI's nullable -> JSON Schema type union.
    } else {
      out[k] = crdSchema(v, strict);
    }
  }
  if (s['x-kubernetes-int-or-string'] === true || s.format === 'int-or-string') {
    delete out.type;
    delete out.format;
    out.oneOf = intOrString().oneOf;
  }
  if (s.nullable === true) Object.assign(out, allowNull(out));
  if (strict && isObj(out.properties) && out.additionalProperties === undefined && s['x-kubernetes-preserve-unknown-fields'] !== true) {
    out.additionalProperties = false;
  }
  return out;
}

/** CustomResourceDefinition objects -> `crds/<group>/<kind>_<version>.json` (the CRDs-catalog layout). */
export function convertCrds(objects: unknown[]): SchemaFile[] {
  const files: SchemaFile[] = [];
  for (const o of objects) {
    if (!isObj(o) || o.kind !== 'CustomResourceDefinition') continue;
    const spec = o.spec as { group: string; names: { kind: string }; versions?: Array<{ name: string; schema?: { openAPIV3Schema?: Schema } }> };
    for (const v of spec.versions ?? []) {
      const root = v.schema?.openAPIV3Schema;
      if (!root) continue;
      const schema = crdSchema(root, true) as Schema;
      const props = (schema.properties ?? {}) as Schema;
      // apiVersion/kind/metadata are implicit in CRDs; strict mode must still accept them.
      props.apiVersion ??= { type: 'string' };
      props.kind ??= { type: 'string' };
      props.metadata ??= { type: 'object' };
      schema.properties = props;
      schema.$schema = 'http://json-schema.org/schema#';
      files.push({ path: `crds/${spec.group}/${spec.names.kind.toLowerCase()}_${v.name}.json`, schema });
    }
  }
  return files;
}
