// What even the API server accepts but keeps a pod from starting or becoming ready:
// missing-key (env and volume items against ConfigMaps, Secrets, ExternalSecrets and the
// secret.env.example of hand-made Secrets) and probe-port. Each rule: a failing and a passing case.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildView, type ClusterView } from '../lib/validate/checks/common.js';
import { checkKeys, checkProbePorts, parseEnvExample } from '../lib/validate/checks/keys.js';
import type { K8sObject } from '../lib/core/k8s.js';
import type { Rendered } from '../lib/render/rendered.js';
import { runValidation } from '../lib/validate/validation.js';
import { baseFiles, DEPLOYMENT, GITOPS_YAML, makeRepo, removeRepo, testEnv } from './repo-fixture.js';

type Obj = K8sObject & { metadata: { name: string } };

function view(objects: Obj[]): ClusterView {
  const r: Rendered = { target: { dir: 'o/x', cluster: 'c', kind: 'app' }, objects, closure: [], sources: [], findings: [] };
  return buildView({ cluster: 'c', rendered: [r], appsByPath: new Map(), projects: new Map(), external: [], overlayNamespaces: new Map() });
}

function pod(name: string, container: Record<string, unknown>, volumes: unknown[] = []): Obj {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'a' },
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', ...container }], volumes } } },
  };
}

const cm: Obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'a' }, data: { LOG_LEVEL: 'info', 'app.conf': 'x' } };
const es = (name: string, spec: Record<string, unknown>): Obj => ({ apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', metadata: { name, namespace: 'a' }, spec });
const envFrom = (kind: 'secretKeyRef' | 'configMapKeyRef', name: string, key: string, optional?: boolean) => ({ env: [{ name: 'V', valueFrom: { [kind]: { name, key, ...(optional ? { optional } : {}) } } }] });
const rules = (fs: { rule: string; resource: string; field?: string }[]) => fs.map((f) => `${f.rule} ${f.resource} ${f.field}`);

describe('missing-key', () => {
  test('env from a rendered ConfigMap: a present key passes, an absent one is caught, optional is not', () => {
    const fs = checkKeys(view([cm, pod('ok', envFrom('configMapKeyRef', 'cfg', 'LOG_LEVEL')), pod('bad', envFrom('configMapKeyRef', 'cfg', 'LOGLEVEL')), pod('opt', envFrom('configMapKeyRef', 'cfg', 'LOGLEVEL', true))]));
    assert.deepEqual(rules(fs), ['missing-key Deployment/a/bad spec.template.spec.containers.0.env.0.valueFrom.configMapKeyRef.key']);
    assert.match(fs[0].message, /ConfigMap\/a\/cfg has no key 'LOGLEVEL' \(keys in the rendered object: LOG_LEVEL, app\.conf\)/);
  });

  test('ExternalSecret target keys: spec.data secretKey, target.name, templates; dataFrom means unknown keys', () => {
    const objects = [
      es('db', { target: { name: 'db-creds' }, data: [{ secretKey: 'url', remoteRef: { key: 'db', property: 'url' } }] }),
      es('all', { dataFrom: [{ extract: { key: 'everything' } }] }),
      es('tpl', { data: [{ secretKey: 'raw' }], target: { template: { data: { DSN: '{{ .raw }}' } } } }),
      pod('ok', envFrom('secretKeyRef', 'db-creds', 'url')),
      pod('bad', envFrom('secretKeyRef', 'db-creds', 'password')),
      pod('byname', envFrom('secretKeyRef', 'db', 'url')), // the Secret is named by target.name, not the ExternalSecret
      pod('any', envFrom('secretKeyRef', 'all', 'whatever')),
      pod('tplok', envFrom('secretKeyRef', 'tpl', 'DSN')),
      pod('tplbad', envFrom('secretKeyRef', 'tpl', 'raw')), // the template replaces the data keys
    ];
    assert.deepEqual(checkKeys(view(objects)).map((f) => f.resource), ['Deployment/a/bad', 'Deployment/a/tplbad']);
  });

  test('volume items of a ConfigMap and a projected Secret', () => {
    const secret: Obj = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'a' }, stringData: { token: 'x' } };
    const vols = (cmKey: string, secretKey: string) => [
      { name: 'conf', configMap: { name: 'cfg', items: [{ key: cmKey, path: 'app.conf' }] } },
      { name: 'p', projected: { sources: [{ secret: { name: 's', items: [{ key: secretKey, path: 't' }] } }] } },
    ];
    const fs = checkKeys(view([cm, secret, pod('ok', {}, vols('app.conf', 'token')), pod('bad', {}, vols('nginx.conf', 'tokn'))]));
    assert.deepEqual(fs.map((f) => f.field), ['spec.template.spec.volumes.0.configMap.items.0.key', 'spec.template.spec.volumes.1.projected.sources.0.secret.items.0.key']);
  });

  test('a referenced object that is not rendered is missing-reference\'s concern, not this rule\'s', () => {
    assert.deepEqual(checkKeys(view([pod('x', envFrom('secretKeyRef', 'elsewhere', 'k'))])), []);
  });

  test('secret.env.example: the Secret it documents and its keys', () => {
    const parsed = parseEnvExample('# Keys of Secret `backend-secrets` (plan).\n# KEY_IN_COMMENT=no\nDATABASE_URL=\nexport OPENAI_API_KEY=sk-...\n\n');
    assert.equal(parsed.secret, 'backend-secrets');
    assert.deepEqual([...parsed.keys], ['DATABASE_URL', 'OPENAI_API_KEY']);
  });
});

describe('missing-key for hand-made Secrets (gitops.yaml external + secret.env.example)', () => {
  const dirs: string[] = [];
  after(async () => Promise.all(dirs.map(removeRepo)));
  const withSecret = (key: string) => DEPLOYMENT.replace('          ports:\n', `          env:\n            - name: DB\n              valueFrom:\n                secretKeyRef: {name: demo-secrets, key: ${key}}\n          ports:\n`);

  async function run(key: string) {
    const dir = await makeRepo({
      ...baseFiles(),
      'gitops.yaml': `${GITOPS_YAML}external:\n  minikube:\n    - Secret/demo/demo-secrets\n  crianex:\n    - Secret/demo/demo-secrets\n`,
      'apps/demo/web/deployment.yaml': withSecret(key),
      'apps/demo/web/secret.env.example': '# Keys of Secret `demo-secrets`. Copy to secret.env.\nDATABASE_URL=\n',
    });
    dirs.push(dir);
    return (await runValidation({ cwd: dir, envVars: testEnv })).findings.filter((f) => f.rule === 'missing-key');
  }

  test('a key the example lists passes; one it does not is caught at the env entry', async () => {
    assert.deepEqual(await run('DATABASE_URL'), []);
    const fs = await run('DATABASE_URI');
    assert.equal(fs.length, 2); // both clusters
    assert.equal(fs[0].file, 'apps/demo/web/deployment.yaml');
    assert.equal(fs[0].line, 18);
    assert.match(fs[0].message, /Secret\/demo\/demo-secrets has no key 'DATABASE_URI' \(keys in apps\/demo\/web\/secret\.env\.example \(the keys of the hand-made Secret\): DATABASE_URL\)/);
  });
});

describe('probe-port', () => {
  test('a named probe port the container declares passes; an undeclared name is caught', () => {
    const probe = (port: string | number) => ({ ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/', port } }, livenessProbe: { tcpSocket: { port } } });
    const fs = checkProbePorts(view([pod('ok', probe('http')), pod('num', probe(9090)), pod('bad', probe('web'))]));
    assert.deepEqual(rules(fs), [
      'probe-port Deployment/a/bad spec.template.spec.containers.0.livenessProbe.tcpSocket.port',
      'probe-port Deployment/a/bad spec.template.spec.containers.0.readinessProbe.httpGet.port',
    ]);
    assert.match(fs[1].message, /readinessProbe of container c uses port 'web', which the container does not declare \(named ports: http\)/);
  });
});
