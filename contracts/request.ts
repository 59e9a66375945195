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
  /**
   * Lower-case header names; a header sent several times lists its lines in order (each line
   * reaches the filter as its own pair, as Envoy's header map holds them).
   */
  headers?: Record<string, string | readonly string[]>;
  /** Verified JWT claims (strings or lists of strings); absent when no verified token. */
  claims?: Record<string, unknown>;
  /** Evaluation time, for rule expiry. */
  nowMs?: number;
}
