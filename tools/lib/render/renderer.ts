/** @public re-export while branches are in flight */
export * from '../core/renderer.js';
