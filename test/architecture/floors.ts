/**
 * The floors of the tree (docs/architecture.md): each folder's floor, what it may import from
 * outside the project, and the rules the architecture test holds every import to. A folder may
 * import its own floor and the floors below it; two folders on one floor are peers and never
 * import each other.
 */

export interface Floor {
  /** 0 is the bottom. */
  level: number;
  name: string;
  /** Folders (with a trailing slash) or files whose code is on this floor; the longest match wins. */
  roots: readonly string[];
}

export const FLOORS: readonly Floor[] = [
  { level: 0, name: 'generated', roots: ['proto/gen/'] },
  { level: 1, name: 'contracts', roots: ['contracts/'] },
  { level: 2, name: 'grpc', roots: ['grpc/'] },
  { level: 3, name: 'control plane', roots: ['control/'] },
  { level: 3, name: 'data plane', roots: ['envoy/'] },
  { level: 3, name: 'filter', roots: ['filter/assembly/'] },
  { level: 4, name: 'cli', roots: ['cli/'] },
  { level: 5, name: 'tools', roots: ['bin/', 'bench/', 'test/', 'proto/', 'filter/'] },
];

/** Packages only one floor may import (the tools floor may too: tests and benchmarks are independent clients). */
export const OWNED_PACKAGES: Readonly<Record<string, string>> = {
  '@grpc/grpc-js': 'grpc',
};

/** The contracts are pure: no I/O, so any floor can hold them without side effects. */
export const CONTRACTS_MAY_NOT_IMPORT: readonly string[] = [
  'node:fs',
  'node:fs/promises',
  'node:net',
  'node:http',
  'node:http2',
  'node:https',
  'node:child_process',
  'node:worker_threads',
  'node:dgram',
];

export function floorOf(file: string): Floor | undefined {
  let best: Floor | undefined;
  let bestLength = -1;
  for (const f of FLOORS)
    for (const r of f.roots)
      if ((r.endsWith('/') ? file.startsWith(r) : file === r) && r.length > bestLength) {
        best = f;
        bestLength = r.length;
      }
  return best;
}
