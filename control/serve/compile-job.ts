/**
 * The compile worker's side (compiler.ts starts it): load and compile the policy paths it is
 * sent, off the control server's event loop, and send back only what the server needs: the
 * compiled bytes to publish, the sources for the history, the page's view, the diagnostics.
 */
import { parentPort } from 'node:worker_threads';
import { compile } from '../compile/compile.js';
import { formatDiagnostic } from '../policy/diagnostics.js';
import { loadPaths } from '../policy/load.js';
import type { CompileRequest, CompileResponse } from './compiler.js';
import { policyView } from './ui-state.js';

function run(m: CompileRequest): CompileResponse {
  const loaded = loadPaths(m.paths);
  const messages = loaded.diagnostics.map(formatDiagnostic);
  if (!loaded.ok) {
    const errors = loaded.diagnostics.filter((d) => d.severity === 'error').length;
    return { id: m.id, rejected: { errors, messages }, seconds: 0 };
  }
  const compiled = compile(loaded.policy);
  return {
    id: m.id,
    compiled: {
      version: compiled.version,
      trustDomain: loaded.policy.mesh.trustDomain,
      workloads: compiled.workloads.map((w) => ({
        name: w.workload.name,
        identity: w.workload.identity,
        version: w.version,
        bytes: w.bytes,
      })),
      sources: (loaded.sources ?? []).map((f) => ({ path: f.name, text: f.text })),
      view: policyView(loaded.policy, compiled),
    },
    seconds: 0,
  };
}

parentPort?.on('message', (m: CompileRequest) => {
  const t0 = process.hrtime.bigint();
  let response: CompileResponse;
  try {
    response = run(m);
  } catch (e) {
    response = { id: m.id, error: String((e as Error).stack ?? e), seconds: 0 };
  }
  response.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  parentPort?.postMessage(response);
});
