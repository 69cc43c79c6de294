// When the rehearsal stops waiting for an Application: the health grace is for what may still turn
// Healthy, never for resources gitops.yaml declares will stay unhealthy (their controller is not simulated).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appSettled } from '../lib/server/rehearsal.js';

const REV = 'c0ffee';
const now = Date.parse('2026-12-04T12:00:10Z');
const app = (resources: Array<{ kind: string; name: string; health: string }>) => ({
  metadata: { name: 'fx' },
  spec: { syncPolicy: { automated: {} } },
  status: {
    sync: { status: 'Synced', revision: REV },
    health: { status: resources.some((r) => r.health === 'Progressing') ? 'Progressing' : 'Healthy' },
    resources: resources.map((r) => ({ ...r, health: { status: r.health } })),
    // Finished 2 s ago: inside a 20 s grace.
    operationState: { phase: 'Succeeded', finishedAt: '2026-12-04T12:00:08Z', syncResult: { revision: REV } },
  },
});
const expect = [{ kind: 'ExternalSecret', reason: "External Secrets' controller is not simulated" }];

test('an Application whose only Progressing resources are declared expectUnhealthy is settled at once', () => {
  const a = app([{ kind: 'Deployment', name: 'web', health: 'Healthy' }, { kind: 'ExternalSecret', name: 'creds', health: 'Progressing' }]);
  assert.equal(appSettled(a, REV, now, 20_000, false, expect), true);
  // Without the declaration it waits out the grace, as before.
  assert.equal(appSettled(a, REV, now, 20_000, false, []), false);
  assert.equal(appSettled(a, REV, now + 20_000, 20_000, false, []), true);
});

test('a Progressing resource that is not declared keeps the grace, declared ones beside it or not', () => {
  const a = app([{ kind: 'Deployment', name: 'web', health: 'Progressing' }, { kind: 'ExternalSecret', name: 'creds', health: 'Progressing' }]);
  assert.equal(appSettled(a, REV, now, 20_000, false, expect), false);
  const outOfSync = { ...app([{ kind: 'ExternalSecret', name: 'creds', health: 'Progressing' }]) };
  outOfSync.status.sync.status = 'OutOfSync';
  assert.equal(appSettled(outOfSync, REV, now, 20_000, false, expect), false, 'OutOfSync waits: an automated sync may follow');
});
