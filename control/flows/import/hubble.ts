/**
 * Cilium Hubble flows (`hubble observe -o json`, one JSON object a line, the flow itself or
 * under "flow"). Only L7 HTTP requests are requests to us: the response half of each is the
 * same exchange seen coming back, and L3/L4 flows carry no method or path. An endpoint's identity
 * is its namespace and its service account label (`k8s:io.cilium.k8s.policy.serviceaccount`);
 * traffic from outside the cluster (`reserved:world`) has no identity at all; other reserved
 * endpoints (the host, health checks) are nobody we can name.
 */
import { type LineResult, type Party, unreadable } from './logged.js';

interface Endpoint {
  namespace?: unknown;
  labels?: unknown;
}

const SA_LABEL = 'k8s:io.cilium.k8s.policy.serviceaccount=';
const NS_LABEL = 'k8s:io.kubernetes.pod.namespace=';

function partyOf(e: Endpoint | undefined, trustDomain: string): Party | undefined {
  const labels = Array.isArray(e?.labels) ? (e.labels as unknown[]).filter((l): l is string => typeof l === 'string') : [];
  if (labels.includes('reserved:world')) return { none: true };
  const sa = labels.find((l) => l.startsWith(SA_LABEL))?.slice(SA_LABEL.length);
  const ns =
    typeof e?.namespace === 'string' && e.namespace ? e.namespace : labels.find((l) => l.startsWith(NS_LABEL))?.slice(NS_LABEL.length);
  if (!sa || !ns) return undefined;
  return { identity: `spiffe://${trustDomain}/ns/${ns}/sa/${sa}` };
}

export function hubbleLine(line: string, trustDomain: string): LineResult {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return unreadable('not JSON');
  }
  if (o === null || typeof o !== 'object') return unreadable('not a JSON object');
  const flow = ((o as { flow?: unknown }).flow ?? o) as Record<string, unknown>;
  const l7 = flow.l7 as { type?: unknown; http?: { method?: unknown; url?: unknown; code?: unknown } } | undefined;
  if (!l7?.http) return { kind: 'skip', reason: 'not an HTTP flow (L3/L4, DNS, Kafka)' };
  if (l7.type !== 'REQUEST') return { kind: 'skip', reason: 'the response half of a request (counted once, from its request)' };
  // With visibility on both sides, a request is seen leaving its caller and reaching its destination.
  if (flow.traffic_direction === 'EGRESS')
    return { kind: 'skip', reason: "the caller's copy of a request (counted once, where it arrives)" };
  const { method, url } = l7.http;
  if (typeof method !== 'string' || typeof url !== 'string') return unreadable('an HTTP flow without a method and URL');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return unreadable('the URL cannot be read');
  }
  const timeMs = typeof flow.time === 'string' ? Date.parse(flow.time) : Number.NaN;
  if (!Number.isFinite(timeMs)) return unreadable('no readable time');
  const caller = partyOf(flow.source as Endpoint | undefined, trustDomain);
  const destination = partyOf(flow.destination as Endpoint | undefined, trustDomain);
  if (!caller) return { kind: 'skip', reason: 'a caller without a namespace and service account (the host, a health check)' };
  if (!destination || 'none' in destination) return { kind: 'skip', reason: 'a destination outside the mesh' };
  const verdict = flow.verdict;
  return {
    kind: 'request',
    request: {
      timeMs,
      caller,
      destination,
      method,
      path: `${u.pathname}${u.search}`,
      host: u.host,
      port: u.port ? Number(u.port) : undefined,
      status: typeof l7.http.code === 'number' ? l7.http.code : 0,
      denied: verdict === 'DROPPED' || verdict === 'DENIED',
    },
  };
}
