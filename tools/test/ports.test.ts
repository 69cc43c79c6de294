// Listening ports for the local servers stay out of the kernel's ephemeral range, where an outgoing
// connection could take the port between our pick and the server's bind (Argo CD's controller then exits).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { ephemeralRange, freePort, listenRange } from '../lib/server/ports.js';

test('the range comes from the kernel setting and avoids the ephemeral span', () => {
  assert.deepEqual(ephemeralRange('32768\t60999\n'), [32768, 60999]);
  assert.equal(ephemeralRange('garbage'), undefined);
  assert.deepEqual(listenRange([32768, 60999]), [10_000, 32767]);
  assert.deepEqual(listenRange([1024, 20000]), [20001, 65535]);
  assert.equal(listenRange([1024, 65000]), undefined, 'no room outside: the kernel picks');
  assert.equal(listenRange(undefined), undefined);
});

test('freePort gives distinct, bindable ports outside this machine\'s ephemeral range', async () => {
  const range = ephemeralRange();
  const ports: number[] = [];
  for (let i = 0; i < 40; i++) ports.push(await freePort());
  assert.equal(new Set(ports).size, ports.length, 'no port handed out twice');
  if (range && listenRange(range)) {
    for (const p of ports) assert.ok(p < range[0] || p > range[1], `${p} lies in ${readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim()}`);
  }
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(ports[0], '127.0.0.1', () => resolve()));
  await new Promise((resolve) => srv.close(resolve));
});
