/** The SPIFFE ID a stream is bound to: the single spiffe:// URI SAN of the verified client certificate. */
import type { PeerCertificate } from 'node:tls';
import { parseSpiffeId } from '../policy/spiffe.js';

export function spiffeIdOf(cert: PeerCertificate | undefined, trustDomain: string): string | { error: string } {
  if (!cert?.raw) return { error: 'no verified client certificate' };
  const uris = (cert.subjectaltname ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
  const ids = uris.filter((u) => u.startsWith('spiffe://'));
  if (ids.length !== 1) return { error: `the client certificate must carry exactly one spiffe:// URI SAN (found ${ids.length})` };
  const id = ids[0] as string;
  const parsed = parseSpiffeId(id);
  if (typeof parsed === 'string') return { error: `the client certificate's SPIFFE ID ${id} is malformed: ${parsed}` };
  if (parsed.trustDomain !== trustDomain) return { error: `${id} is not in the trust domain ${trustDomain}` };
  return id;
}
