// re-export while branches are in flight (moved down to config/ so report/ can read release files)
export { readReleaseFile } from '../config/releasefiles.js';
