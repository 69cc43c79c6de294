// Ports on 127.0.0.1 for the local servers (the API server, the rehearsal's controllers, Argo CD,
// git daemon): a free one to bind, and whether one accepts connections yet.
import { readFileSync } from 'node:fs';
import net from 'node:net';

// Ports handed out by this process: two picks in one start never collide.
const handedOut = new Set<number>();

/**
 * The kernel's ephemeral range (Linux), where it picks the local port of every outgoing connection.
 * A listening port taken from it can be grabbed by one of the many client connections our servers
 * open between the pick and the bind: Argo CD's controller then dies with "address already in use"
 * (a CI flake, exit 20). Ports below (or above) the range are never given to a connect().
 */
export function ephemeralRange(text?: string): [number, number] | undefined {
  try {
    const [lo, hi] = (text ?? readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/).map(Number);
    return Number.isInteger(lo) && Number.isInteger(hi) && lo <= hi ? [lo, hi] : undefined;
  } catch {
    return undefined; // not Linux: the kernel's pick below
  }
}

/** Where to pick listening ports from: the larger span outside the ephemeral range, at least 1024 ports wide. */
export function listenRange(ephemeral: [number, number] | undefined): [number, number] | undefined {
  if (!ephemeral) return undefined;
  const below: [number, number] = [10_000, ephemeral[0] - 1];
  const above: [number, number] = [ephemeral[1] + 1, 65_535];
  const best = below[1] - below[0] >= above[1] - above[0] ? below : above;
  return best[1] - best[0] >= 1024 ? best : undefined;
}

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const got = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(got));
    });
  });
}

/**
 * A port nothing listens on now, outside the kernel's ephemeral range where it has one. Another
 * process may still bind it before our server does (rare: random picks over ~20000 ports); the start
 * then fails and its log says so.
 */
export async function freePort(): Promise<number> {
  const range = listenRange(ephemeralRange());
  for (let i = 0; range && i < 64; i++) {
    const candidate = range[0] + Math.floor(Math.random() * (range[1] - range[0] + 1));
    if (handedOut.has(candidate)) continue;
    const port = await tryListen(candidate);
    if (port !== undefined) return remember(port);
  }
  for (let i = 0; i < 64; i++) {
    const port = await tryListen(0);
    if (port !== undefined && !handedOut.has(port)) return remember(port);
  }
  throw new Error('no free port on 127.0.0.1');
}

function remember(port: number): number {
  handedOut.add(port);
  return port;
}

/** Whether something accepts connections on 127.0.0.1:`port`. */
export function listening(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}
