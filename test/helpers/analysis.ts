/** What the randomized analysis tests share: requests as the analysis sees them, and membership of a region. */
import type { PolicyRequest } from '../../contracts/request.js';
import { MAX_AUTHORITY, normalizePath } from '../../contracts/request-path.js';
import { type Cube, intersect } from '../../control/analysis/cubes.js';
import { pathParametersOf } from '../../control/eval/evaluate.js';
import type { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';

/** The request with its path normalised as the policy's filter would, or undefined when the filter denies it as unsafe before any rule. */
export function analysable(raw: PolicyRequest, policy: CompiledPolicy, nowMs: number): PolicyRequest | undefined {
  const n = normalizePath(raw.path, pathParametersOf(policy));
  if (!n.ok || (raw.host ?? '').length > MAX_AUTHORITY) return undefined;
  return { ...raw, path: n.path, nowMs };
}

/** Whether the point with these classes lies in the region. */
export function inside(region: readonly Cube[], classes: readonly number[]): boolean {
  const point = classes.map((c) => 1n << BigInt(c));
  return region.some((cube) => intersect(cube, point) !== undefined);
}
