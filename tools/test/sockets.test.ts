// The listening sockets of a process, from /proc: what the rehearsal uses to prove it stays on 127.0.0.1.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { exposedListeners, isLoopback, listeners, parseProcNetTcp } from '../lib/server/sockets.js';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0
   2: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 20 4 30 10 -1
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:8269 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2002 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:0051 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2003 1 0000000000000000 100 0 0 10 0
`;

test('/proc/net/tcp and tcp6: listening sockets only, addresses decoded', () => {
  assert.deepEqual([...parseProcNetTcp(TCP, false)], [[1001, { address: '127.0.0.1', port: 8080 }], [1002, { address: '0.0.0.0', port: 2024 }]]);
  const v6 = parseProcNetTcp(TCP6, true);
  assert.deepEqual(v6.get(2001), { address: '0:0:0:0:0:0:0:0', port: 33385 });
  assert.deepEqual(v6.get(2002), { address: '0:0:0:0:0:0:0:1', port: 80 });
  assert.deepEqual(v6.get(2003), { address: '127.0.0.1', port: 81 });
  assert.deepEqual(['127.0.0.1', '0:0:0:0:0:0:0:1', '0.0.0.0', '0:0:0:0:0:0:0:0'].map(isLoopback), [true, true, false, false]);
});

test('a server on 127.0.0.1 in this process: found with its port, not exposed', { skip: !existsSync('/proc/net/tcp') && 'no /proc' }, async () => {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  try {
    const port = (srv.address() as net.AddressInfo).port;
    assert.deepEqual(listeners([process.pid]).filter((l) => l.port === port), [{ pid: process.pid, address: '127.0.0.1', port }]);
    assert.deepEqual(exposedListeners([process.pid]), []);
  } finally {
    await new Promise((resolve) => srv.close(resolve));
  }
});
