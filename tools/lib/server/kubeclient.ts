// A small client for the Kubernetes REST API over node:https: discovery (resources, objectPath),
// server-side apply (optionally dry run) and raw requests (request). Enough for validate's dry
// run; no kubectl needed.
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { ConfigError, GitopsError } from '../core/errors.js';
import type { K8sObject } from '../core/k8s.js';

export class KubeApiError extends GitopsError {}

export interface KubeCredentials {
  server: string;
  ca?: string | Buffer;
  token?: string;
  cert?: string | Buffer;
  key?: string | Buffer;
  insecure?: boolean;
}

/** A `Status` the API server returns on failure. */
export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: Array<{ reason?: string; message?: string; field?: string }> };
}

export interface KubeResponse<T = unknown> {
  status: number;
  body: T;
  /** `Warning` headers (deprecations, dropped fields). */
  warnings: string[];
}

export interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

const REQUEST_TIMEOUT_MS = 60_000;

function parseWarnings(h: string | string[] | undefined): string[] {
  // RFC 7234 warn-code "agent" "text": `299 - "message"`.
  return (Array.isArray(h) ? h : h ? [h] : []).flatMap((v) => [...v.matchAll(/\d{3} \S+ "((?:[^"\\]|\\.)*)"/g)].map((m) => m[1].replace(/\\(.)/g, '$1')));
}

export class KubeClient {
  private readonly agent: https.Agent;
  private readonly discovery = new Map<string, Promise<Map<string, ResourceInfo> | undefined>>();

  constructor(readonly creds: KubeCredentials) {
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 16, ca: creds.ca, cert: creds.cert, key: creds.key, rejectUnauthorized: !creds.insecure });
  }

  request<T = unknown>(method: string, urlPath: string, body?: unknown, contentType = 'application/json'): Promise<KubeResponse<T>> {
    // Appended, not resolved: a server URL may carry a path prefix (an API proxy).
    const url = new URL(this.creds.server.replace(/\/$/, '') + urlPath);
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        {
          method,
          agent: this.agent,
          timeout: REQUEST_TIMEOUT_MS,
          headers: {
            Accept: 'application/json',
            ...(this.creds.token ? { Authorization: `Bearer ${this.creds.token}` } : {}),
            ...(data !== undefined ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // not JSON (e.g. /readyz): keep the text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T, warnings: parseWarnings(res.headers.warning) });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new KubeApiError(`${method} ${url.pathname}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on('error', reject);
      req.end(data);
    });
  }

  /** Resources of one group/version by kind (undefined when the API server does not serve it). */
  resources(apiVersion: string): Promise<Map<string, ResourceInfo> | undefined> {
    let p = this.discovery.get(apiVersion);
    if (!p) {
      const url = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      p = this.request<{ resources?: Array<{ name: string; kind: string; namespaced: boolean }> }>('GET', url).then((res) => {
        if (res.status === 404) return undefined;
        if (res.status !== 200) throw new KubeApiError(`GET ${url}: HTTP ${res.status} ${statusMessage(res.body)}`);
        const out = new Map<string, ResourceInfo>();
        for (const r of res.body.resources ?? []) if (!r.name.includes('/')) out.set(r.kind, { plural: r.name, namespaced: r.namespaced });
        return out;
      });
      this.discovery.set(apiVersion, p);
    }
    return p;
  }

  /** Forget discovery (after CRDs changed). */
  resetDiscovery(): void {
    this.discovery.clear();
  }

  /** REST path of an object (undefined when its kind is not served). */
  async objectPath(o: Pick<K8sObject, 'apiVersion' | 'kind' | 'metadata'>, defaultNamespace = 'default'): Promise<{ path: string; namespace?: string } | undefined> {
    const info = (await this.resources(o.apiVersion))?.get(o.kind);
    if (!info) return undefined;
    const prefix = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
    const ns = info.namespaced ? o.metadata?.namespace || defaultNamespace : undefined;
    const name = encodeURIComponent(o.metadata?.name ?? '');
    return { path: ns ? `${prefix}/namespaces/${encodeURIComponent(ns)}/${info.plural}/${name}` : `${prefix}/${info.plural}/${name}`, namespace: ns };
  }

  /**
   * Server-side apply. `dryRun`: the API server validates, defaults and admits the object as it
   * would for real, and stores nothing. `force` takes over fields other managers own (Argo CD's).
   */
  apply(urlPath: string, o: K8sObject, opts: { dryRun: boolean; fieldManager: string }): Promise<KubeResponse<K8sObject | KubeStatus>> {
    const q = new URLSearchParams({ fieldManager: opts.fieldManager, force: 'true', fieldValidation: 'Strict' });
    if (opts.dryRun) q.set('dryRun', 'All');
    return this.request('PATCH', `${urlPath}?${q}`, o, 'application/apply-patch+yaml');
  }

  close(): void {
    this.agent.destroy();
  }
}

export function statusMessage(body: unknown): string {
  if (body && typeof body === 'object' && 'message' in body) return String((body as KubeStatus).message);
  return typeof body === 'string' ? body.slice(0, 500) : '';
}

interface KubeConfigFile {
  'current-context'?: string;
  contexts?: Array<{ name: string; context: { cluster: string; user: string; namespace?: string } }>;
  clusters?: Array<{ name: string; cluster: { server: string; 'certificate-authority'?: string; 'certificate-authority-data'?: string; 'insecure-skip-tls-verify'?: boolean } }>;
  users?: Array<{ name: string; user: { token?: string; tokenFile?: string; 'client-certificate'?: string; 'client-certificate-data'?: string; 'client-key'?: string; 'client-key-data'?: string; exec?: unknown; 'auth-provider'?: unknown } }>;
}

/** Splits `path[:context]` (a path may itself hold no colon; `~` is the home folder). */
export function parseServerArg(arg: string): { file: string; context?: string } {
  const i = arg.lastIndexOf(':');
  const [file, context] = i > 0 ? [arg.slice(0, i), arg.slice(i + 1) || undefined] : [arg, undefined];
  return { file: file.replace(/^~(?=$|\/)/, os.homedir()), context };
}

/** Credentials of one kubeconfig context (token or client certificate; exec plugins are not run). */
export async function loadKubeconfig(file: string, context?: string): Promise<{ creds: KubeCredentials; context: string }> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new ConfigError(file, 'kubeconfig not found', 'pass --server <kubeconfig>[:<context>]');
  });
  const cfg = (parse(text) ?? {}) as KubeConfigFile;
  const name = context ?? cfg['current-context'];
  const ctx = cfg.contexts?.find((c) => c.name === name);
  if (!ctx) throw new ConfigError(file, `context '${name ?? ''}' not found (contexts: ${(cfg.contexts ?? []).map((c) => c.name).join(', ') || 'none'})`);
  const cluster = cfg.clusters?.find((c) => c.name === ctx.context.cluster)?.cluster;
  const user = cfg.users?.find((u) => u.name === ctx.context.user)?.user ?? {};
  if (!cluster?.server) throw new ConfigError(file, `cluster '${ctx.context.cluster}' of context '${name}' has no server`);
  const dir = path.dirname(file);
  const read = (p?: string) => (p ? readFile(path.resolve(dir, p)) : undefined);
  const b64 = (d?: string) => (d ? Buffer.from(d, 'base64') : undefined);
  if (!user.token && !user.tokenFile && !user['client-certificate'] && !user['client-certificate-data'] && (user.exec || user['auth-provider'])) {
    throw new ConfigError(file, `user '${ctx.context.user}' authenticates with an exec or auth-provider plugin, which validate does not run`, 'use a context with a token or client certificate (minikube has one)');
  }
  return {
    context: name!,
    creds: {
      server: cluster.server,
      ca: b64(cluster['certificate-authority-data']) ?? (await read(cluster['certificate-authority'])),
      insecure: cluster['insecure-skip-tls-verify'],
      token: user.token ?? (user.tokenFile ? (await readFile(path.resolve(dir, user.tokenFile), 'utf8')).trim() : undefined),
      cert: b64(user['client-certificate-data']) ?? (await read(user['client-certificate'])),
      key: b64(user['client-key-data']) ?? (await read(user['client-key'])),
    },
  };
}
