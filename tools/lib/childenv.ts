// The environment handed to child processes of the release commands: the caller's, minus anything
// that looks like a credential. A pushing git gets its token separately (an http.extraHeader scoped
// to origin), never through these variables.

/** Variable names that carry credentials (GITHUB_TOKEN, GH_TOKEN, GITOPS_REGISTRY_PASSWORD, AWS_SECRET_ACCESS_KEY, ...). */
export const SECRET_NAME = /TOKEN|PASSWORD|PASSWD|SECRET|CREDENTIAL|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|AUTH/i;

/** Names that match SECRET_NAME but hold no secret (the ssh agent's socket path). */
const KEEP = new Set(['SSH_AUTH_SOCK']);

export function withoutSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && (KEEP.has(k) || !SECRET_NAME.test(k))) out[k] = v;
  return out;
}
