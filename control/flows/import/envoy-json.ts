/**
 * Envoy's JSON access log (`json_format`) with the caller's certificate in it:
 * `%DOWNSTREAM_PEER_URI_SAN%` (the caller's SPIFFE ID; "-" without a client certificate) and,
 * to know whose sidecar wrote the line, `%DOWNSTREAM_LOCAL_URI_SAN%` (its own SVID). Keys are
 * the operator's to choose: the ones examples/flows/envoy-access.log and Istio's JSON format use
 * are read. docs/flows-import.md shows the format to configure.
 */

import { field, type LineResult, unreadable } from './logged.js';
import { portOf } from './pods.js';

const PEER_KEYS = ['downstream_peer_uri_san', 'peer_uri_san', 'source_principal'];

export function envoyJsonLine(line: string): LineResult {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return unreadable('not JSON');
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return unreadable('not a JSON object');
  const e = o as Record<string, unknown>;
  const method = field(e, 'method', 'request_method', ':method');
  const path = field(e, 'path', 'x_envoy_original_path', ':path');
  if (!method || !path) return { kind: 'skip', reason: 'not an HTTP request (no method or path: a TCP entry)' };
  // The key must be there ("-" is an answer: no certificate); without it the log cannot say who called.
  if (!PEER_KEYS.some((k) => k in e))
    return unreadable('no downstream_peer_uri_san: add %DOWNSTREAM_PEER_URI_SAN% to the log format (docs/flows-import.md)');
  const peer = field(e, ...PEER_KEYS);
  const local = field(e, 'downstream_local_uri_san', 'local_uri_san', 'destination_principal');
  const start = field(e, 'start_time', 'timestamp');
  const timeMs = start ? Date.parse(start) : Number.NaN;
  if (!Number.isFinite(timeMs)) return unreadable('no readable start_time');
  const status = Number(field(e, 'response_code', 'status') ?? '0');
  const details = field(e, 'response_code_details') ?? '';
  return {
    kind: 'request',
    request: {
      timeMs,
      caller: peer ? { identity: peer } : { none: true },
      destination: local ? { identity: local } : { none: true },
      method,
      path,
      host: field(e, 'authority', 'host', ':authority') ?? '',
      port: portOf(field(e, 'downstream_local_address') ?? ''),
      status,
      denied: details.startsWith('rbac_access_denied') || details.startsWith('perimeter_denied'),
    },
  };
}
