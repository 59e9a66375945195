/** Resolves what a user names on the command line (workload name or SPIFFE ID) in a compiled policy set. */
import type { CompiledWorkload, CompileResult } from '../compile/compile.js';

export class UsageError extends Error {}

export function findWorkload(result: CompileResult, nameOrId: string): CompiledWorkload {
  const w = result.workloads.find((x) => x.workload.name === nameOrId || x.workload.identity === nameOrId);
  if (!w) {
    const known = result.workloads.map((x) => x.workload.name).join(', ');
    throw new UsageError(`no workload "${nameOrId}" in the policy (known: ${known || 'none'})`);
  }
  return w;
}

/** `unauthenticated`, a SPIFFE ID, or a registered workload's name → peer identity. */
export function callerIdentity(result: CompileResult, from: string): string | undefined {
  if (from === 'unauthenticated') return undefined;
  if (from.startsWith('spiffe://')) return from;
  const w = result.workloads.find((x) => x.workload.name === from);
  if (!w) throw new UsageError(`--from "${from}" is not unauthenticated, a spiffe:// ID or a registered workload`);
  return w.workload.identity;
}
