/** How the analysis commands show a request and the decision it gets (verify, diff --semantic). */
import type { PolicyRequest } from '../../contracts/request.js';
import { locationText } from '../../control/policy/diagnostics.js';
import type { Location } from '../../control/policy/model.js';

/** One line: method, path, caller, then only what the request carries besides. */
export function requestLine(r: PolicyRequest): string {
  const parts = [`${r.method} ${r.path}`, `from ${r.principal ?? 'an unauthenticated caller'}`];
  if (r.host) parts.push(`host ${r.host}`);
  if (r.port !== undefined) parts.push(`port ${r.port}`);
  for (const [k, v] of Object.entries(r.headers ?? {}))
    for (const line of typeof v === 'string' ? [v] : v) parts.push(`${k}: ${JSON.stringify(line)}`);
  if (r.claims) parts.push(`token ${JSON.stringify(r.claims)}`);
  return parts.join(', ');
}

export const where = (l: Location | undefined): string => (l ? locationText(l) : 'the mesh default');
