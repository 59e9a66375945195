/** Who a sidecar's outbound listener reaches, and where: the peers the bootstrap gives clusters. */
import type { Workload } from '../policy/model.js';

export interface Peer {
  workload: Workload;
  host: string;
  port: number;
}

/**
 * The outbound destinations of `me`: the workloads named in `explicit`, at the address given,
 * or when none is named, every other workload at its Kubernetes service name on `inboundPort`.
 */
export function peersOf(
  workloads: readonly Workload[],
  me: Workload,
  explicit: ReadonlyMap<string, { host: string; port: number }>,
  inboundPort: number,
): Peer[] {
  return workloads
    .filter((w) => w !== me && (explicit.size === 0 || explicit.has(w.name)))
    .map((w) => {
      const at = explicit.get(w.name);
      return { workload: w, host: at?.host ?? `${w.name}.${w.namespace}.svc.cluster.local`, port: at?.port ?? inboundPort };
    });
}
