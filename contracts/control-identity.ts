/**
 * Who the control server is to a sidecar: the SPIFFE ID path of its SVID in the mesh's trust
 * domain (which a sidecar requires of the server it streams from), and the DNS name the SVID
 * also carries, which gRPC clients check as the server name.
 */
export const CONTROL_IDENTITY_PATH = '/ns/perimeter-system/sa/perimeter-control';
export const CONTROL_SERVER_NAME = 'perimeter-control';

export function controlIdentity(trustDomain: string): string {
  return `spiffe://${trustDomain}${CONTROL_IDENTITY_PATH}`;
}
