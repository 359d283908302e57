// The matcher module's entry points for the rest of the daemon.
export type * from './types.js';
export { loadLists, loadListsOffThread, type LoadOptions } from './lists.js';
export { anyBlockNoAllow } from './verdict.js';
export { normalizeName, InvalidName } from './name.js';
export { detectFormat } from './formats/index.js';
