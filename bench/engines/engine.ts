/**
 * What the decision benchmark times for every engine: `prepare` builds the engine's own form
 * of a request once (outside the timed loop, like the strings the pure Wasm decision reads
 * from memory), `decide` is the decision alone.
 */
import type { PolicyRequest } from '../../contracts/request.js';

export type Verdict = 'allow' | 'deny';

export interface Engine<P = unknown> {
  prepare(request: PolicyRequest): P;
  decide(prepared: P): Verdict;
}

/** Every engine the decision suite runs, as the results name them. */
export const ENGINES = {
  wasm: 'perimeter.wasm, in-Wasm decision',
  staged: 'perimeter.wasm, in-Wasm decision with a staged candidate in shadow',
  host: 'perimeter.wasm through the host',
  reference: 'reference evaluator (TypeScript)',
  rbac: 'Envoy RBAC (grpc-js-xds engine)',
  cedar: 'Cedar (cedar-wasm)',
  casbin: 'casbin (node-casbin)',
} as const;
export type EngineKey = keyof typeof ENGINES;
