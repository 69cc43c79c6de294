// The environment handed to the git children of the release commands: the caller's, minus
// anything that looks like a credential (redact.ts SECRET_NAME). A git that talks to origin gets its
// token separately (an http.extraHeader scoped to origin), never through these variables.
import { SECRET_NAME } from './redact.js';

/** Names that match SECRET_NAME but hold no secret (the ssh agent's socket path). */
const KEEP = new Set(['SSH_AUTH_SOCK']);

export function withoutSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && (KEEP.has(k) || !SECRET_NAME.test(k))) out[k] = v;
  return out;
}
