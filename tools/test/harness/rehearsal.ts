// Whether the sync rehearsal's binaries are built: the rehearsal tests skip locally without them
// (npm run setup -- --rehearse) and fail in CI, where setup --test-deps must have built them.
import { findArgoBinaries } from '../../lib/server/argocdsim.js';
import { findSimBinaries } from '../../lib/server/simcluster.js';

/** `skip`: false when every binary is there (or under CI), else the reason, printed once; `missing`: what is not built. */
export async function rehearsalSkip(env: NodeJS.ProcessEnv): Promise<{ skip: string | false; missing?: string }> {
  const sim = await findSimBinaries(env);
  const argo = await findArgoBinaries(env);
  const missing = 'missing' in sim ? sim.missing : 'missing' in argo ? argo.missing : undefined;
  const skip = missing && !process.env.CI ? `rehearsal tests skipped: ${missing}` : false;
  if (skip) process.stderr.write(`${skip}\n`);
  return { skip, missing };
}
