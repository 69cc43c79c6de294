// Release files (gitops.yaml promotion.files): files of an overlay folder that are part of the
// release and travel whole from one environment to the next (a settings file with its version).
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../core/errors.js';

/** Largest release file read (the YAML limit of the toolkit). */
const MAX_BYTES = 4 * 1024 * 1024;

/**
 * The bytes of release file `file` of the overlay folder `dir` (repo-relative) in checkout
 * `root`, or undefined when the overlay has none. A symlink or something other than a regular
 * file is refused: a release copies bytes, never a link out of the repository.
 */
export async function readReleaseFile(root: string, dir: string, file: string): Promise<Buffer | undefined> {
  const rel = path.posix.join(dir, file);
  const st = await lstat(path.join(root, rel)).catch(() => undefined);
  if (!st) return undefined;
  if (!st.isFile()) throw new ConfigError(rel, `release file (gitops.yaml promotion.files '${file}') is ${st.isSymbolicLink() ? 'a symlink' : 'not a regular file'}; a release file must be a plain file in the overlay folder`);
  if (st.size > MAX_BYTES) throw new ConfigError(rel, `release file is ${st.size} bytes, more than ${MAX_BYTES}`);
  return readFile(path.join(root, rel));
}
