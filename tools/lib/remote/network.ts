// One bound for every network call of the toolkit (git fetch/push, GitHub API, registries).
import { UsageError } from '../core/errors.js';

/**
 * GITOPS_NETWORK_TIMEOUT (seconds, a plain decimal integer) when set, else `fallbackMs`. Every
 * network call stops after it, so a server that accepts a connection and never answers cannot
 * keep a command (or CI) waiting.
 */
export function networkTimeoutMs(env: NodeJS.ProcessEnv, fallbackMs: number): number {
  const raw = env.GITOPS_NETWORK_TIMEOUT;
  if (raw === undefined || raw === '') return fallbackMs;
  if (!/^[1-9][0-9]{0,4}$/.test(raw)) throw new UsageError(`GITOPS_NETWORK_TIMEOUT must be a whole number of seconds from 1 to 99999 (got '${raw}')`);
  return Number(raw) * 1000;
}
