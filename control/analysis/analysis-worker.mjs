// Entry of an analysis worker thread: the TypeScript sources through tsx, as bin/perimeter.js
// runs them (a worker does not inherit the loader the main thread registered).
import { register } from 'tsx/esm/api';

register();
const { parentPort, workerData } = await import('node:worker_threads');
try {
  const { runJobs } = await import('./analysis-job.ts');
  parentPort?.postMessage({ results: runJobs(workerData.kind, workerData.jobs, workerData.shared) });
} catch (e) {
  // A question too large to answer exactly is the user's to hear about, not a crash.
  const limit = e?.name === 'AnalysisLimit';
  parentPort?.postMessage({ error: limit ? e.message : String(e?.stack ?? e), limit });
}
