/**
 * Where verified JWT claims are for the filter: Envoy's jwt_authn filter writes the payload to
 * dynamic metadata (`payload_in_metadata`), and the filter, the host, the bootstrap and
 * `export rbac` read it at the same place. filter/assembly/claims.ts encodes the same path.
 */
export const JWT_METADATA = { filter: 'envoy.filters.http.jwt_authn', key: 'jwt_payload' } as const;
