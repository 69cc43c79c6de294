import { startRegistry, pushImage, headManifest } from '../registry.ts';
import { mkdtemp } from 'node:fs/promises';
for (const auth of [false, true]) {
  const dir = await mkdtemp('/tmp/reg-');
  const t0 = Date.now();
  const r = await startRegistry(auth ? { dir, username: 'u', password: 'p' } : { dir });
  console.log('started', Date.now() - t0);
  try {
    console.log(await pushImage(r, { name: 'crianex/api', tag: 'v1' }));
    console.log(await pushImage(r, { name: 'crianex/api', tag: 'v2', asIndex: true }));
    console.log(await headManifest(r, 'crianex/api', 'v1', { auth: false }));
    console.log(Date.now() - t0);
  } catch (e) { console.log(e, r.logs()); } finally { await r.stop(); }
}
