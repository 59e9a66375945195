/** A request as the filter sees it, in the form both engines take. */
export interface PolicyRequest {
  /** The peer's SPIFFE ID (first URI SAN); undefined when no verified peer certificate. */
  principal?: string;
  method: string;
  /** Raw `:path`, query included; normalised before matching. */
  path: string;
  /** Raw `:authority`. */
  host?: string;
  port?: number;
  /** Lower-case header names; first value only, as Envoy returns it. */
  headers?: Record<string, string>;
  /** Verified JWT claims (strings or lists of strings); absent when no verified token. */
  claims?: Record<string, unknown>;
  /** Evaluation time, for rule expiry. */
  nowMs?: number;
}
