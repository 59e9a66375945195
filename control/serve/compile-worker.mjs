// Entry of the compile worker thread: the TypeScript sources through tsx, as bin/perimeter.js
// runs them (a worker does not inherit the loader the main thread registered).
import { register } from 'tsx/esm/api';

register();
await import('./compile-job.ts');
