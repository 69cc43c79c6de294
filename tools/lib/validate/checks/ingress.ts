// Ingress and Traefik IngressRoute backends, and host/path claims across apps of one cluster.
import type { Finding } from '../../core/finding.js';
import { finding, type ClusterView, type Entry } from './common.js';

interface ServicePort {
  name?: string;
  port?: number;
}

interface IngressBackend {
  service?: { name?: string; port?: { name?: string; number?: number } };
}

interface IngressSpec {
  defaultBackend?: IngressBackend;
  rules?: Array<{ host?: string; http?: { paths?: Array<{ path?: string; backend?: IngressBackend }> } }>;
}

interface RouteSpec {
  routes?: Array<{ match?: string; services?: Array<{ name?: string; namespace?: string; kind?: string; port?: number | string }> }>;
}

const isIngress = (e: Entry) => e.group === 'networking.k8s.io' && e.o.kind === 'Ingress';
const isRoute = (e: Entry) => (e.group === 'traefik.io' || e.group === 'traefik.containo.us') && e.o.kind === 'IngressRoute';

/** Host and path pairs a Traefik match rule claims (`Host(...)`, `PathPrefix(...)`/`Path(...)`). */
export function routeClaims(match: string): Array<{ host: string; path: string }> {
  const args = (fn: string) => [...match.matchAll(new RegExp(`\\b${fn}\\(([^)]*)\\)`, 'g'))].flatMap((m) => [...m[1].matchAll(/[`"']([^`"']*)[`"']/g)].map((a) => a[1]));
  const hosts = args('Host');
  const paths = [...args('PathPrefix'), ...args('Path')];
  return (hosts.length ? hosts : ['']).flatMap((host) => (paths.length ? paths : ['/']).map((path) => ({ host, path })));
}

/** `ingress-backend` and `duplicate-host-path`. */
export function checkIngresses(view: ClusterView): Finding[] {
  const findings: Finding[] = [];
  const services = new Map<string, ServicePort[]>();
  for (const e of view.entries) {
    if (e.group === '' && e.o.kind === 'Service') services.set(`${e.ns}/${e.o.metadata.name}`, ((e.o.spec as { ports?: ServicePort[] })?.ports ?? []));
  }
  const checkBackend = (e: Entry, ns: string, name: string | undefined, port: string | number | undefined, pointer: string) => {
    if (!name) return;
    const ports = services.get(`${ns}/${name}`);
    if (!ports) {
      findings.push(finding(e, 'ingress-backend', 'error', `backend Service ${ns}/${name} is not rendered in this cluster`, pointer));
    } else if (port !== undefined && !ports.some((p) => (typeof port === 'number' || /^\d+$/.test(port) ? p.port === Number(port) : p.name === port))) {
      const known = ports.map((p) => (p.name ? `${p.name}=${p.port}` : String(p.port))).join(', ');
      findings.push(finding(e, 'ingress-backend', 'error', `backend Service ${ns}/${name} has no port ${port} (ports: ${known})`, pointer));
    }
  };
  // host+path -> claims; an app (overlay) claiming a pair twice is kustomize's or the controller's business.
  const claims = new Map<string, Array<{ e: Entry; pointer: string }>>();
  const claim = (e: Entry, host: string, path: string, pointer: string) => {
    const key = `${host}\u0000${path}`;
    if (!claims.has(key)) claims.set(key, []);
    claims.get(key)!.push({ e, pointer });
  };
  for (const e of view.entries) {
    if (isIngress(e)) {
      const spec = (e.o.spec ?? {}) as IngressSpec;
      const db = spec.defaultBackend?.service;
      if (db) checkBackend(e, e.ns!, db.name, db.port?.name ?? db.port?.number, '/spec/defaultBackend/service');
      for (const [ri, rule] of (spec.rules ?? []).entries()) {
        for (const [pi, p] of (rule.http?.paths ?? []).entries()) {
          const svc = p.backend?.service;
          const pointer = `/spec/rules/${ri}/http/paths/${pi}/backend/service`;
          if (svc) checkBackend(e, e.ns!, svc.name, svc.port?.name ?? svc.port?.number, pointer);
          claim(e, rule.host ?? '', p.path ?? '/', `/spec/rules/${ri}/http/paths/${pi}`);
        }
      }
    } else if (isRoute(e)) {
      for (const [ri, route] of (((e.o.spec ?? {}) as RouteSpec).routes ?? []).entries()) {
        for (const [si, s] of (route.services ?? []).entries()) {
          if (s.kind && s.kind !== 'Service') continue; // TraefikService: not a Kubernetes Service
          checkBackend(e, s.namespace ?? e.ns!, s.name, s.port, `/spec/routes/${ri}/services/${si}`);
        }
        for (const c of routeClaims(route.match ?? '')) claim(e, c.host, c.path, `/spec/routes/${ri}/match`);
      }
    }
  }
  for (const [key, list] of claims) {
    const overlays = [...new Set(list.map((c) => c.e.r.target.dir))];
    if (overlays.length < 2) continue;
    const [host, path] = key.split('\u0000');
    for (const c of list) {
      const others = list.filter((x) => x.e.r.target.dir !== c.e.r.target.dir).map((x) => `${x.e.o.kind}/${x.e.o.metadata.name} (${x.e.r.target.dir})`);
      findings.push(finding(c.e, 'duplicate-host-path', 'error', `host '${host || '*'}' path ${path} is also claimed by ${[...new Set(others)].join(', ')}: the ingress controller routes it to only one of them`, c.pointer));
    }
  }
  return findings;
}
