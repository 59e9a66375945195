/**
 * Istio's default text access log, as its sidecars print it:
 *
 *   [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
 *   %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
 *   "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
 *   %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
 *   "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER%
 *   %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
 *   %REQUESTED_SERVER_NAME% %ROUTE_NAME%
 *
 * It names the caller only by address: an inbound line (upstream cluster `inbound|…`) is a
 * request to the pod at the downstream local address from the pod at the downstream remote
 * address, and both are mapped to identities through the operator's pod list (pods.ts). An
 * outbound line is the caller's copy of a request its destination's sidecar also logs: skipped.
 */
import { type LineResult, unreadable } from './logged.js';
import { addressOf, portOf } from './pods.js';

/** The fields: bracketed time, then quoted strings and bare words. */
function tokens(line: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === ' ') {
      i++;
      continue;
    }
    const close = c === '[' ? ']' : c === '"' ? '"' : ' ';
    const start = c === '[' || c === '"' ? i + 1 : i;
    const end = line.indexOf(close, start);
    if (end < 0 && close !== ' ') return undefined;
    const stop = end < 0 ? line.length : end;
    out.push(line.slice(start, stop));
    i = stop + (close === ' ' ? 0 : 1);
  }
  return out;
}

export function istioTextLine(line: string): LineResult {
  const t = tokens(line);
  if (!t || t.length < 22) return unreadable("not Istio's default access log format (too few fields)");
  const [time, request, code, , details, , , , , , , , , , authority, , cluster, , local, remote] = t as string[];
  const timeMs = Date.parse(time as string);
  if (!Number.isFinite(timeMs)) return unreadable('no readable start time');
  const parts = (request as string).split(' ');
  if (parts[0] === '-') return { kind: 'skip', reason: 'not an HTTP request (a TCP entry)' };
  if (parts.length !== 3) return unreadable('the request is not "METHOD PATH PROTOCOL"');
  if (!(cluster as string).startsWith('inbound|'))
    return { kind: 'skip', reason: "an outbound entry (the destination's sidecar logs the same request)" };
  const caller = addressOf(remote as string);
  return {
    kind: 'request',
    request: {
      timeMs,
      caller: { address: caller },
      destination: { address: addressOf(local as string) },
      method: parts[0] as string,
      path: parts[1] as string,
      host: authority === '-' ? '' : (authority as string),
      port: portOf(local as string),
      status: Number(code),
      denied: (details as string).startsWith('rbac_access_denied'),
    },
  };
}
