/**
 * Pod addresses to SPIFFE identities, from the pod list an operator exports
 * (`kubectl get pods -A -o json`): a pod's identity in an Istio mesh is its namespace and service
 * account in the trust domain, `spiffe://<td>/ns/<namespace>/sa/<serviceAccountName>`. The list is
 * a file a person handed us: every field is checked, and a pod that cannot be read is reported,
 * never guessed at.
 */
import { fail, ok, type Result } from '../../../contracts/problem.js';
import { parseSpiffeId } from '../../../contracts/spiffe.js';

export interface PodIdentities {
  /** Pod IP → SPIFFE ID. An address two pods claim (a recycled IP in one export) maps to nobody. */
  byAddress: Map<string, string>;
  pods: number;
  problems: string[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const IP = /^[0-9a-fA-F.:]{2,45}$/;

export function podIdentities(text: string, trustDomain: string): Result<PodIdentities> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return fail('', `the pod list is not JSON: ${(e as Error).message}`, 'export it with kubectl get pods -A -o json');
  }
  const items = (doc as { items?: unknown })?.items;
  if (!Array.isArray(items)) return fail('', 'the pod list has no items', 'export it with kubectl get pods -A -o json');
  const byAddress = new Map<string, string>();
  const ambiguous = new Set<string>();
  const problems: string[] = [];
  for (const [i, item] of items.entries()) {
    const pod = item as {
      metadata?: { name?: unknown; namespace?: unknown };
      spec?: { serviceAccountName?: unknown };
      status?: { podIP?: unknown; podIPs?: unknown };
    };
    const ns = pod.metadata?.namespace;
    const sa = pod.spec?.serviceAccountName ?? 'default';
    if (typeof ns !== 'string' || !DNS_LABEL.test(ns) || typeof sa !== 'string' || !DNS_LABEL.test(sa)) {
      problems.push(`items[${i}]: no valid namespace and service account`);
      continue;
    }
    const id = `spiffe://${trustDomain}/ns/${ns}/sa/${sa}`;
    if (!parseSpiffeId(id).ok) {
      problems.push(`items[${i}]: ${ns}/${sa} makes no SPIFFE ID in ${trustDomain}`);
      continue;
    }
    const ips = new Set<string>();
    if (typeof pod.status?.podIP === 'string') ips.add(pod.status.podIP);
    if (Array.isArray(pod.status?.podIPs))
      for (const p of pod.status.podIPs as { ip?: unknown }[]) if (typeof p?.ip === 'string') ips.add(p.ip);
    // A pod on the host's network shares the node's address with other pods: it names nobody.
    for (const ip of ips) {
      if (!IP.test(ip)) continue;
      if (byAddress.has(ip) && byAddress.get(ip) !== id) ambiguous.add(ip);
      byAddress.set(ip, id);
    }
  }
  for (const ip of ambiguous) byAddress.delete(ip);
  if (ambiguous.size > 0)
    problems.push(
      `${ambiguous.size} address(es) belong to pods of different identities (host network, or a recycled IP): their traffic is counted as unknown`,
    );
  return ok({ byAddress, pods: items.length, problems });
}

/** The address of `ip:port` or `[ip]:port`, without the port. */
export function addressOf(endpoint: string): string {
  if (endpoint.startsWith('[')) return endpoint.slice(1, endpoint.indexOf(']'));
  const colon = endpoint.lastIndexOf(':');
  return colon > 0 && endpoint.indexOf(':') === colon ? endpoint.slice(0, colon) : endpoint;
}

/** The port of `ip:port`, or undefined. */
export function portOf(endpoint: string): number | undefined {
  const m = /:(\d{1,5})$/.exec(endpoint);
  const n = m ? Number(m[1]) : Number.NaN;
  return n >= 1 && n <= 65535 ? n : undefined;
}
