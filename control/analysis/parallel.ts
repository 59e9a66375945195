/**
 * Per-workload analysis over the cores: the workloads of a mesh are decided independently, so a
 * large batch is cut into one chunk per worker thread (analysis-worker.mjs runs the job of that
 * name in analysis-job.ts), and a small one is decided on this thread, where starting a worker
 * would cost more than it saves.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AnalysisLimit } from './dimension.js';

/** Below this many workloads, one thread: a worker's start (the TypeScript loader) costs about 0.3 s. */
const PARALLEL_FROM = 1_000;

/**
 * `run` decides jobs on this thread; `kind` names the same function in analysis-job.ts for the
 * workers. `shared` goes once to each worker. Jobs cross to a worker by structured clone, which
 * is slow for deep objects: a job carries a policy as its protobuf bytes. Results come back in
 * the order of the jobs.
 */
export async function perWorkload<J, S, R>(
  kind: string,
  jobs: readonly J[],
  shared: S,
  run: (jobs: readonly J[], shared: S) => R[],
): Promise<R[]> {
  const threads = Math.min(availableParallelism(), 8, Math.ceil(jobs.length / (PARALLEL_FROM / 2)));
  if (jobs.length < PARALLEL_FROM || threads < 2) return run(jobs, shared);
  const size = Math.ceil(jobs.length / threads);
  const chunks = Array.from({ length: threads }, (_, i) => jobs.slice(i * size, (i + 1) * size));
  const results = await Promise.all(chunks.map((chunk) => inWorker<R>(kind, chunk, shared)));
  return results.flat();
}

function inWorker<R>(kind: string, jobs: readonly unknown[], shared: unknown): Promise<R[]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./analysis-worker.mjs', import.meta.url), { execArgv: [], workerData: { kind, jobs, shared } });
    let done = false;
    w.once('message', (m: { results?: R[]; error?: string; limit?: boolean }) => {
      done = true;
      if (m.results) resolve(m.results);
      else if (m.limit) reject(new AnalysisLimit(m.error ?? ''));
      else reject(new Error(m.error ?? 'the analysis worker sent nothing'));
      void w.terminate();
    });
    w.once('error', (e) => {
      done = true;
      reject(e);
    });
    w.once('exit', (code) => {
      if (!done) reject(new Error(`the analysis worker exited with ${code} before it answered`));
    });
  });
}
