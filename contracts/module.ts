/** Where the filter module is: as built in this checkout, and where a sidecar finds it. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `npm run build` writes it (filter/build.mjs). */
export const BUILT_MODULE = join(dirname(fileURLToPath(import.meta.url)), '..', 'filter', 'build', 'perimeter.wasm');

/** Where the bootstrap and the sidecar image put the module. */
export const DEFAULT_MODULE_PATH = '/etc/perimeter/perimeter.wasm';
