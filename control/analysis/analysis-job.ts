/** The per-workload decisions of verify, lint and diff --semantic by name, for the worker threads (parallel.ts). */
import { deadRules } from './dead-rules.js';
import { diffWorkloads } from './semantic-diff.js';
import { checkWorkloads } from './verify.js';

const JOBS: Record<string, (jobs: never[], shared: never) => unknown[]> = {
  verify: checkWorkloads,
  dead: deadRules,
  diff: diffWorkloads,
};

export function runJobs(kind: string, jobs: never[], shared: never): unknown[] {
  const run = JOBS[kind];
  if (!run) throw new Error(`no analysis job named ${kind}`);
  return run(jobs, shared);
}
