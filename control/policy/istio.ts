/**
 * Istio `AuthorizationPolicy` (security.istio.io/v1 and v1beta1) into the same model, with
 * Istio's semantics: rules OR, sources/operations OR, fields AND, values OR; principals get
 * `spiffe://`; exact / `prefix*` / `*suffix` / `*` forms; DENY before ALLOW; a workload with
 * no ALLOW policy allows (the compiler adds that default); `spec: {}` allows nothing;
 * `rules: [{}]` allows everything; `istio.io/dry-run` becomes simulate mode. A field we
 * cannot honour (addresses, SNI, Envoy metadata) is an error that names it; when the loader is
 * told to skip them, an ALLOW or AUDIT rule loses the sources (or, for a condition, the whole
 * rule) that use one, which only narrows it, and a DENY rule that uses one is still refused:
 * nothing is converted into something that allows more than Istio would.
 */
import { parseOperation, parseSource, parseWhen, type Unsupported } from './istio-fields.js';
import type { Operation, Perimeter, Rule, Selector, Source } from './model.js';
import { NAME } from './names.js';
import type { Cursor } from './yaml-cursor.js';
import { location } from './yaml-cursor.js';

/** Policies here apply mesh-wide (Istio's default root namespace). */
export const ISTIO_ROOT_NAMESPACE = 'istio-system';

export function parseIstioPolicy(root: Cursor, meta: Cursor | undefined, spec: Cursor): Perimeter | undefined {
  const mf = meta?.fields(['name', 'namespace', 'annotations', 'labels', 'uid', 'resourceVersion', 'generation', 'creationTimestamp']);
  const name = mf?.get('name')?.string();
  if (!name) {
    (meta ?? root).error('metadata.name is required');
    return undefined;
  }
  const namespace = mf?.get('namespace')?.string() ?? 'default';
  const pname = `${namespace}.${name}`;
  root.ctx.resource = `AuthorizationPolicy/${pname}`;
  if (!NAME.test(pname)) (meta ?? root).error(`"${pname}" does not make a valid perimeter name`, 'use lower-case names');
  const annotations = new Map((mf?.get('annotations')?.entries() ?? []).map(([k, v]) => [k, v]));
  const dryRun = annotations.get('istio.io/dry-run')?.string() === 'true';
  const owner = annotations.get('perimeter.dev/owner')?.string() ?? `istio:${namespace}`;

  const f = spec.present ? spec.fields(['selector', 'action', 'rules', 'provider', 'targetRef', 'targetRefs']) : new Map<string, Cursor>();
  if (!f) return undefined;
  for (const k of ['provider', 'targetRef', 'targetRefs']) {
    f.get(k)?.error(
      `cannot honour ${k}`,
      k === 'provider' ? 'CUSTOM providers (ext_authz) are not supported' : 'perimeter selects sidecar workloads, not gateways',
    );
  }
  const actionC = f.get('action');
  const action = actionC ? actionC.oneOf(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] as const) : 'ALLOW';
  if (action === 'CUSTOM') {
    actionC?.error('cannot honour action CUSTOM', 'CUSTOM delegates to an external authorizer; write the policy as ALLOW/DENY rules');
    return undefined;
  }
  if (!action) return undefined;

  const selector: Selector = { workloads: [], identities: [], labels: [] };
  if (namespace !== ISTIO_ROOT_NAMESPACE) selector.namespace = namespace;
  const selC = f.get('selector');
  const sf = selC?.fields(['matchLabels']);
  const labels: Record<string, string> = {};
  for (const [k, v] of sf?.get('matchLabels')?.entries() ?? []) {
    const s = v.string();
    if (s !== undefined) labels[k] = s;
  }
  if (Object.keys(labels).length > 0) {
    selector.labels.push(labels);
    sf?.get('matchLabels')?.refer({ kind: 'labels', labels });
  } else selector.all = true;

  const rulesC = f.get('rules');
  const items = rulesC?.items() ?? [];
  if ((action === 'DENY' || action === 'AUDIT') && items.length === 0) {
    (rulesC ?? spec).error(`a ${action} policy without rules is meaningless`, 'Istio rejects it too; add rules or remove the policy');
  }
  const rules: Rule[] = [];
  for (const [i, rc] of items.entries()) {
    const rule = parseIstioRule(rc, i, action === 'ALLOW' ? 'allow' : action === 'DENY' ? 'deny' : 'audit', namespace);
    if (rule) rules.push(rule);
  }
  return {
    name: pname,
    owner,
    mode: dryRun ? 'simulate' : 'enforce',
    selector,
    rules,
    origin: 'istio',
    ...(action !== 'ALLOW' ? { defaultDeny: false as const } : {}),
    crownJewel: false,
    location: location(meta ?? root),
  };
}

function parseIstioRule(c: Cursor, index: number, action: Rule['action'], namespace: string): Rule | undefined {
  const f = c.present ? c.fields(['from', 'to', 'when']) : new Map<string, Cursor>();
  if (!f) return undefined;
  const skip = c.ctx.skipUnsupported === true;
  const dropped: Unsupported[] = [];
  let refused = false;
  const from: Source[] = [];
  const fromItems = f.get('from')?.items() ?? [];
  for (const fc of fromItems) {
    const src = fc.fields(['source'])?.get('source');
    if (!src) continue;
    const { source, unsupported } = parseSource(src, namespace);
    if (unsupported.length === 0) from.push(source);
    else if (refuse(unsupported, action, skip)) refused = true;
    else {
      dropped.push(...unsupported);
      fc.warn(
        `dropped this source (${unsupported.map((u) => u.field).join(', ')}): the ${action.toUpperCase()} rule now matches fewer callers than in Istio`,
        unsupported[0]?.why,
      );
    }
  }
  const to: Operation[] = [];
  for (const tc of f.get('to')?.items() ?? []) {
    const op = tc.fields(['operation'])?.get('operation');
    if (op) to.push(parseOperation(op));
  }
  const rule: Rule = { name: `rule-${index}`, action, from, to, when: [], location: location(c) };
  const whenUnsupported: Unsupported[] = [];
  for (const wc of f.get('when')?.items() ?? []) {
    const u = parseWhen(wc, rule, namespace);
    if (u) whenUnsupported.push(u);
  }
  if (whenUnsupported.length > 0 && refuse(whenUnsupported, action, skip)) refused = true;
  if (refused) return undefined;
  // Every source dropped, or a condition we cannot test: the rule goes, never "any caller".
  const emptied = fromItems.length > 0 && from.length === 0;
  if (whenUnsupported.length > 0 || emptied) {
    const fields = [...dropped, ...whenUnsupported].map((u) => u.field);
    c.warn(
      `dropped rule ${index} (${[...new Set(fields)].join(', ')}): this ${action.toUpperCase()} matches nothing it would match in Istio`,
      action === 'allow' ? 'the callers it admitted are denied unless another rule admits them' : 'its requests are no longer audited',
    );
    return undefined;
  }
  return rule;
}

/** Whether a rule must be refused for fields it cannot honour (always, unless skipping from an ALLOW or AUDIT rule). */
function refuse(unsupported: readonly Unsupported[], action: Rule['action'], skip: boolean): boolean {
  if (skip && action !== 'deny') return false;
  for (const u of unsupported) {
    if (skip)
      u.at.error(
        `cannot drop ${u.field} from a DENY rule: it would deny less than Istio does`,
        'rewrite the rule by identity, or keep it in Istio',
      );
    else u.at.error(`cannot honour ${u.field}`, `${u.why}; perimeter import istio --skip-unsupported converts the rest`);
  }
  return true;
}
