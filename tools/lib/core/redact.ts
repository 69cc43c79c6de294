// Redaction of secrets in everything validate and diff print: values under keys that look
// sensitive, Secret data, strings shaped like well-known tokens, and the values of the
// credentials in the toolkit's own environment. And neutralisation of repository text placed in
// markdown (a PR comment) or a terminal.

export const REDACTED = '<redacted>';

/** Key names whose values are credentials: token, password, secret, key, credential, auth. */
const SENSITIVE_KEY = /token|passw(or)?d|passwd|secret|credential|key|(^|[-_.])auth($|[-_.])|authorization|cookie|private/i;

/** Key names that hold the *name* of a secret or key, not its value (secretName, secretKeyRef). */
const REFERENCE_KEY = /(Name|Names|Ref|Refs|Selector|Namespace|Class|Kind|Path|Version|Id|Prefix)$/;

/** Whether the value stored under `key` must not be shown (`parent`: the object holding it). */
export function sensitiveKey(key: string, parent?: Record<string, unknown>, extra: string[] = []): boolean {
  if (extra.some((k) => k.toLowerCase() === key.toLowerCase())) return true;
  if (!SENSITIVE_KEY.test(key) || REFERENCE_KEY.test(key)) return false;
  // `key:` / `secretKey:` next to a name or property names a key of a Secret (secretKeyRef,
  // ExternalSecret remoteRef, volume items): a reference, not a value.
  if (/^(key|secretKey|keys)$/.test(key) && parent && ['name', 'property', 'path', 'remoteRef', 'version'].some((k) => k in parent)) return false;
  return true;
}

/** Well-known credential shapes, anywhere in a string. */
const TOKEN_SHAPES: RegExp[] = [
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|$)/g,
  /\bgh[pousr]_[A-Za-z0-9]{20,255}/g, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{20,255}/g,
  /\bglpat-[A-Za-z0-9_-]{20,}/g, // GitLab
  /\bnpm_[A-Za-z0-9]{30,}/g,
  /\b(AKIA|ASIA|AIDA|AROA)[0-9A-Z]{16}\b/g, // AWS access key ids
  /\bxox[abposr]-[A-Za-z0-9-]{10,}/g, // Slack
  /\bAIza[0-9A-Za-z_-]{35}/g, // Google API keys
  /\b[rs]k_(live|test)_[0-9A-Za-z]{20,}/g, // Stripe
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, // JWTs
  /(?<=[a-z][a-z0-9+.-]*:\/\/[^/\s:@'"]+:)[^/\s@'"]+(?=@)/gi, // password in a URL
  // `Password=...` in a connection string, `db.password=...` in properties, `--db-password=...`
  // or `--token ...` in a command line, `"apiKey": "..."` in JSON: the value after a credential name.
  /(?<=(?:^|[\s;,&?{("'-]|\b)[\w.-]*(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|access[_-]?key|credentials?)[\w.-]*(?<!Name|Names|Ref|Refs|Selector|Namespace|Class|Kind|Path|Version|Id|Prefix|Key|Keys)"?\s*[=:]\s*"?)(?!<redacted>)[^\s;,&'"})]+/gi,
  /(?<=(?:^|\s)--?[\w.-]*(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|credentials?)[\w.-]*\s+)(?!<redacted>|-)[^\s;,&'"]+/gi,
];

/** A command-line flag that names a credential: the argument after it is one (`--db-password`, `x`). */
export const CREDENTIAL_FLAG = /^--?[\w.-]*(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|credentials?)[\w.-]*$/i;

/**
 * The one rule for names of environment variables that hold a credential: their values are
 * redacted verbatim from output (below), and never passed to a child process (exec.ts childEnv,
 * childenv.ts withoutSecrets).
 */
export const SECRET_NAME = /token|passw(or)?d|secret|credential|auth|(^|_)key($|_)|apikey|private|session|cookie/i;

function envSecrets(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env)
    .filter(([k, v]) => SECRET_NAME.test(k) && typeof v === 'string' && v.length >= 6)
    .map(([, v]) => v as string)
    .sort((a, b) => b.length - a.length);
}

/** Values shorter than this are not scrubbed (they would blank out ordinary words). */
const MIN_SECRET_CHARS = 6;

/**
 * `text` (an error message of kustomize or the API server) with each of `values` (the secret
 * values of the sources or the object it is about: secretValuesOf) replaced, longest first.
 * Only error text goes through this: the values are known to belong to what the error is about.
 */
export function scrubSecrets(text: string, values: Iterable<string>): string {
  const list = [...new Set([...values].flatMap((v) => [v, v.trim()]))].filter((v) => v.length >= MIN_SECRET_CHARS && v !== REDACTED).sort((a, b) => b.length - a.length);
  let out = text;
  for (const v of list) if (out.includes(v)) out = out.split(v).join(REDACTED);
  return out;
}

function decodedBase64(v: string): string | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(v) || v.length % 4) return undefined;
  const d = Buffer.from(v, 'base64').toString('utf8');
  return /^[\x20-\x7e\t\r\n]+$/.test(d) ? d : undefined;
}

/**
 * The secret values of one parsed document: a Secret's data (also base64-decoded) and
 * stringData, values under sensitive keys, values of env entries with sensitive names.
 */
export function secretValuesOf(doc: unknown, extra: string[] = []): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key?: string, parent?: Record<string, unknown>) => {
    if (typeof v === 'string' || typeof v === 'number') {
      if (key !== undefined && sensitiveKey(key, parent, extra)) out.push(String(v));
      return;
    }
    if (Array.isArray(v)) return v.forEach((x) => walk(x));
    if (!isObj(v)) return;
    if (typeof v.name === 'string' && typeof v.value === 'string' && sensitiveKey(v.name, undefined, extra)) out.push(v.value);
    for (const [k, x] of Object.entries(v)) walk(x, k, v);
  };
  walk(doc);
  if (isObj(doc) && doc.kind === 'Secret') {
    for (const f of ['data', 'stringData']) {
      const d = doc[f];
      if (!isObj(d)) continue;
      for (const x of Object.values(d)) {
        if (typeof x === 'string') {
          out.push(x);
          const dec = f === 'data' ? decodedBase64(x) : undefined;
          if (dec) out.push(dec);
        } else if (x !== null && x !== undefined) out.push(...flatStrings(x));
      }
    }
  }
  return out;
}

function flatStrings(v: unknown): string[] {
  if (typeof v === 'string' || typeof v === 'number') return [String(v)];
  if (Array.isArray(v)) return v.flatMap(flatStrings);
  if (isObj(v)) return Object.values(v).flatMap(flatStrings);
  return [];
}

/** Replaces token-shaped substrings and the environment's credential values in a text. */
export function redactText(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = text;
  for (const v of envSecrets(env)) out = out.split(v).join(REDACTED);
  for (const re of TOKEN_SHAPES) out = out.replace(re, REDACTED);
  return out;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A copy of `value` with sensitive values replaced: under a sensitive key, an env-style entry
 * `{name: DB_PASSWORD, value: ...}` with a sensitive name, and token-shaped strings anywhere.
 * `key` is the key `value` itself is stored under.
 */
export function redactValue(value: unknown, key?: string, parent?: Record<string, unknown>, extra: string[] = []): unknown {
  if (key !== undefined && sensitiveKey(key, parent, extra) && (typeof value === 'string' || typeof value === 'number')) return REDACTED;
  if (typeof value === 'string') return redactString(value, extra);
  if (Array.isArray(value)) return value.map((x, i) => (i > 0 && typeof value[i - 1] === 'string' && CREDENTIAL_FLAG.test(value[i - 1] as string) && typeof x === 'string' ? REDACTED : redactValue(x, undefined, undefined, extra)));
  if (!isObj(value)) return value;
  const out: Record<string, unknown> = {};
  const envEntry = typeof value.name === 'string' && 'value' in value && sensitiveKey(value.name, undefined, extra);
  for (const [k, x] of Object.entries(value)) out[k] = envEntry && k === 'value' ? REDACTED : redactValue(x, k, value, extra);
  return out;
}

/**
 * A string value: token shapes and credential assignments redacted; one that holds a JSON object
 * (a last-applied-configuration, a config file in a ConfigMap) is redacted as the object it is,
 * a Secret's data and stringData included.
 */
function redactString(value: string, extra: string[]): string {
  const t = value.trim();
  if (t.startsWith('{') && t.endsWith('}') && t.length < 4 * 1024 * 1024) {
    try {
      const parsed: unknown = JSON.parse(t);
      if (isObj(parsed)) {
        const r = redactValue(parsed, undefined, undefined, extra) as Record<string, unknown>;
        return JSON.stringify(parsed.kind === 'Secret' ? redactSecretData(r) : r);
      }
    } catch {
      /* not JSON: redacted as text */
    }
  }
  return redactText(value);
}

/** A Secret's data and stringData values redacted, keys kept. */
function redactSecretData(o: Record<string, unknown>): Record<string, unknown> {
  const out = { ...o };
  for (const f of ['data', 'stringData']) {
    const d = out[f];
    if (isObj(d)) out[f] = Object.fromEntries(Object.keys(d).map((k) => [k, REDACTED]));
  }
  return out;
}

/** Every scalar replaced, keys and structure kept: a value under a sensitive key. */
export function redactAll(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactAll);
  if (isObj(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactAll(v)]));
  return value === null || value === undefined ? value : REDACTED;
}

/** One line, no control characters: repository text in a terminal or a markdown line. */
export function oneLine(s: string): string {
  return s.replace(/\r\n|\r|\n/g, '⏎').replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, '�');
}

/** Control characters other than newline and tab removed (terminal escape sequences). */
export function plainText(s: string): string {
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '�');
}

/**
 * Repository text for an inline code span in markdown (also inside a table cell): one line, no
 * backtick to close the span, no pipe to split the cell. HTML, mentions and issue links are
 * inert inside a code span.
 */
export function mdCode(s: string): string {
  const t = oneLine(s).replace(/`/g, 'ˋ').replace(/\|/g, '\\|');
  return `\`${t || ' '}\``;
}

/** Repository text inside an HTML element (e.g. <summary><code>…</code>): entities only. */
export function htmlText(s: string): string {
  return oneLine(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/@/g, '&#64;');
}

