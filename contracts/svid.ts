/** SPIFFE IDs from certificates: the URI SANs a peer presents, and the one a stream is bound to. */
import type { PeerCertificate } from 'node:tls';
import { fail, ok, type Result, reasonOf } from './problem.js';
import { parseSpiffeId } from './spiffe.js';

/** The URI SANs of a certificate as Node presents it (`subjectaltname: "URI:…, DNS:…"`). */
export function uriSans(cert: PeerCertificate | undefined): string[] {
  return (cert?.subjectaltname ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
}

/** The single spiffe:// URI SAN of the verified client certificate, in the trust domain. */
export function spiffeIdOf(cert: PeerCertificate | undefined, trustDomain: string): Result<string> {
  if (!cert?.raw) return fail('', 'no verified client certificate');
  const ids = uriSans(cert).filter((u) => u.startsWith('spiffe://'));
  if (ids.length !== 1) return fail('', `the client certificate must carry exactly one spiffe:// URI SAN (found ${ids.length})`);
  const id = ids[0] as string;
  const parsed = parseSpiffeId(id);
  if (!parsed.ok) return fail('', `the client certificate's SPIFFE ID ${id} is malformed: ${reasonOf(parsed)}`);
  if (parsed.value.trustDomain !== trustDomain) return fail('', `${id} is not in the trust domain ${trustDomain}`);
  return ok(id);
}
