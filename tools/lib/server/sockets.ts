// Which of our children listen beyond the loopback address (Linux /proc): the rehearsal and the
// dry run promise servers on 127.0.0.1 only, and a pinned binary may bind every interface.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface Listener {
  pid: number;
  address: string;
  port: number;
}

/** The listening sockets in one /proc/net/tcp or tcp6 text: socket inode → address and port. */
export function parseProcNetTcp(text: string, v6: boolean): Map<number, { address: string; port: number }> {
  const out = new Map<number, { address: string; port: number }>();
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== '0A') continue; // 0A: LISTEN
    const [hex, port] = f[1]!.split(':');
    out.set(Number(f[9]), { address: v6 ? ipv6(hex!) : ipv4(hex!), port: parseInt(port!, 16) });
  }
  return out;
}

// The kernel prints each 32-bit word in host (little-endian) order.
const word = (h: string) => h.match(/../g)!.reverse().join('');

function ipv4(hex: string): string {
  return word(hex).match(/../g)!.map((b) => parseInt(b, 16)).join('.');
}

function ipv6(hex: string): string {
  const full = (hex.match(/.{8}/g) ?? []).map(word).join('');
  if (/^0{20}ffff/i.test(full)) return ipv4(word(full.slice(24)));
  return (full.match(/.{4}/g) ?? []).map((g) => g.replace(/^0+(?=.)/, '')).join(':').toLowerCase();
}

export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '0:0:0:0:0:0:0:1';
}

/** The listening sockets of `pids` that other machines could reach (not loopback); empty where /proc is missing. */
export function exposedListeners(pids: number[]): Listener[] {
  return listeners(pids).filter((l) => !isLoopback(l.address));
}

/** Every listening TCP socket of `pids`. */
export function listeners(pids: number[]): Listener[] {
  let sockets: Map<number, { address: string; port: number }>;
  try {
    sockets = new Map([...parseProcNetTcp(readFileSync('/proc/net/tcp', 'utf8'), false), ...parseProcNetTcp(readFileSync('/proc/net/tcp6', 'utf8'), true)]);
  } catch {
    return [];
  }
  const out: Listener[] = [];
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone
    }
    for (const fd of fds) {
      let target = '';
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      const s = inode ? sockets.get(Number(inode)) : undefined;
      if (s) out.push({ pid, ...s });
    }
  }
  return out;
}
