// Ports on 127.0.0.1 for the local servers (the API server, the rehearsal's controllers, Argo CD,
// git daemon): a free one to bind, and whether one accepts connections yet.
import net from 'node:net';

/** A port nothing listens on now (the kernel's pick; a race with another process is possible but harmless: the start fails and says so). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
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
