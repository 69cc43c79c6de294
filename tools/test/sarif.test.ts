// validate --format sarif: a SARIF 2.1.0 log (checked against the OASIS schema that
// @microsoft/jest-sarif ships) that GitHub code scanning accepts: rules, levels, a location per result.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import type { Log } from 'sarif';
import { validate } from '../commands/validate.js';
import { FindingsError } from '../lib/core/errors.js';
import { formatSarif } from '../lib/report/report.js';
import { type Finding } from '../lib/core/finding.js';
import { baseFiles, DEPLOYMENT, makeRepo, removeRepo, testEnv } from './repo-fixture.js';

const require = createRequire(import.meta.url);

async function sarifValidator() {
  const schema = JSON.parse(await readFile(require.resolve('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json'), 'utf8')) as Record<string, unknown>;
  delete schema.$schema; // draft-07, which ajv knows without the meta-schema URL
  // The published file names itself with draft-04's `id`; ajv 8 wants `$id`.
  if (typeof schema.id === 'string') {
    schema.$id = schema.id;
    delete schema.id;
  }
  // unicodeRegExp off: the schema's language pattern has a stray ']' that only non-unicode regexps accept.
  const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv.compile(schema);
}

const findings: Finding[] = [
  { severity: 'error', rule: 'schema', overlay: 'overlays/minikube/demo/web', resource: 'Deployment/demo/demo-web', field: 'spec.replicas', message: 'expected integer', file: 'apps/demo/web/deployment.yaml', line: 6 },
  { severity: 'warning', rule: 'prod-digest-pinned', overlay: 'overlays/crianex/demo/web', resource: 'Deployment/demo/demo-web', message: 'pin by digest', file: 'overlays/crianex/demo/web/kustomization.yaml', line: 8 },
  { severity: 'info', rule: 'schema-missing', overlay: 'clusters/crianex', resource: '', message: 'no schema' },
];

describe('SARIF', () => {
  test('a valid SARIF 2.1.0 log: rules, levels, one location per result, stable fingerprints', async () => {
    const check = await sarifValidator();
    const log = JSON.parse(formatSarif(findings)) as Log;
    assert.ok(check(log), JSON.stringify(check.errors, null, 2));
    assert.equal(log.version, '2.1.0');
    const run = log.runs[0]!;
    assert.deepEqual(run.tool.driver.rules!.map((r) => r.id), ['prod-digest-pinned', 'schema', 'schema-missing']);
    assert.deepEqual(run.results!.map((r) => r.level), ['error', 'warning', 'note']);
    for (const r of run.results!) {
      assert.equal(run.tool.driver.rules![r.ruleIndex!]!.id, r.ruleId);
      assert.equal(r.locations!.length, 1);
      assert.equal(r.locations![0]!.physicalLocation!.artifactLocation!.uriBaseId, '%SRCROOT%');
    }
    assert.equal(run.results![0]!.locations![0]!.physicalLocation!.region!.startLine, 6);
    // A finding without a file points at its overlay's kustomization, line 1.
    assert.equal(run.results![2]!.locations![0]!.physicalLocation!.artifactLocation!.uri, 'clusters/crianex/kustomization.yaml');
    assert.equal(run.results![2]!.locations![0]!.physicalLocation!.region!.startLine, 1);
    // Moving a finding to another line keeps its fingerprint; another field gets another.
    const moved = JSON.parse(formatSarif([{ ...findings[0]!, line: 40 }])) as Log;
    assert.deepEqual(moved.runs[0]!.results![0]!.partialFingerprints, run.results![0]!.partialFingerprints);
    const other = JSON.parse(formatSarif([{ ...findings[0]!, field: 'spec.paused' }])) as Log;
    assert.notDeepEqual(other.runs[0]!.results![0]!.partialFingerprints, run.results![0]!.partialFingerprints);
  });

  test('the schema check can fail: a result without a message is rejected', async () => {
    const check = await sarifValidator();
    const log = JSON.parse(formatSarif(findings)) as { runs: Array<{ results: Array<Record<string, unknown>> }> };
    delete log.runs[0]!.results[0]!.message;
    assert.equal(check(log), false);
  });

  test('validate --format sarif on a broken fixture: same findings as JSON, valid log, exit through FindingsError', async () => {
    const dir = await makeRepo({ ...baseFiles(), 'apps/demo/web/deployment.yaml': DEPLOYMENT.replace('replicas: 1', 'replicas: "one"') });
    try {
      const out: string[] = [];
      await assert.rejects(validate({ cwd: dir, format: 'sarif', envVars: testEnv, write: (t) => out.push(t) }), FindingsError);
      const json: string[] = [];
      await assert.rejects(validate({ cwd: dir, format: 'json', envVars: testEnv, write: (t) => json.push(t) }), FindingsError);
      const log = JSON.parse(out.join('')) as Log;
      const check = await sarifValidator();
      assert.ok(check(log), JSON.stringify(check.errors, null, 2));
      const expected = (JSON.parse(json.join('')) as { findings: Finding[] }).findings;
      assert.equal(log.runs[0]!.results!.length, expected.length);
      const replicas = log.runs[0]!.results!.find((r) => r.ruleId === 'schema' && /spec\.replicas/.test(r.message.text ?? ''));
      assert.ok(replicas, JSON.stringify(log.runs[0]!.results, null, 2));
      assert.equal(replicas.level, 'error');
      assert.equal(replicas.locations![0]!.physicalLocation!.artifactLocation!.uri, 'apps/demo/web/deployment.yaml');
    } finally {
      await removeRepo(dir);
    }
  });
});
