// Moved down to config/releasefiles.ts, so report/ can read release files.
/** @public re-export while branches are in flight */
export { readReleaseFile } from '../config/releasefiles.js';
