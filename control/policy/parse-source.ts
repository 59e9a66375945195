/**
 * Who a rule or a perimeter names: `from:` sources (identities, workloads, labels,
 * unauthenticated callers), selectors, and `setBy:`, the callers trusted to set a header.
 */
import { reasonOf } from '../../contracts/problem.js';
import { parseIdentityPattern, parseSpiffeId } from '../../contracts/spiffe.js';
import { emptySource, type Selector, type Source, type StringMatch } from './model.js';
import type { Cursor } from './yaml-cursor.js';

export function parseLabelSelectors(c: Cursor): Record<string, string>[] {
  const one = (m: Cursor): Record<string, string> | undefined => {
    const out: Record<string, string> = {};
    for (const [k, v] of m.entries()) {
      const s = v.string();
      if (s !== undefined) out[k] = s;
    }
    if (Object.keys(out).length === 0) {
      m.error('an empty label selector would select nothing', 'give at least one label, e.g. {app: web}');
      return undefined;
    }
    return out;
  };
  const list = c.isList() ? c.items() : [c];
  const out: Record<string, string>[] = [];
  for (const m of list) {
    const sel = one(m);
    if (!sel) continue;
    m.refer({ kind: 'labels', labels: sel });
    out.push(sel);
  }
  return out;
}

function referWorkloads(c: Cursor | undefined): string[] {
  const names = c?.strings() ?? [];
  for (const [i, workload] of names.entries()) c?.items()[i]?.refer({ kind: 'workload', workload });
  return names;
}

export function parseSelector(c: Cursor): Selector | undefined {
  const f = c.fields(['workloads', 'identities', 'labels']);
  if (!f) return undefined;
  const idsC = f.get('identities');
  const identities = idsC?.strings() ?? [];
  for (const [i, id] of identities.entries()) {
    const at = idsC?.items()[i] as Cursor;
    const parsed = parseSpiffeId(id);
    if (!parsed.ok) at.error(`malformed SPIFFE ID "${id}": ${reasonOf(parsed)}`);
    else at.refer({ kind: 'identity', identity: id });
  }
  const sel: Selector = {
    workloads: referWorkloads(f.get('workloads')),
    identities,
    labels: f.get('labels') ? parseLabelSelectors(f.get('labels') as Cursor) : [],
  };
  if (sel.workloads.length + sel.identities.length + sel.labels.length === 0) {
    c.error('the selector selects nothing', 'name workloads, identities or labels');
  }
  return sel;
}

export function parseSetBy(c: Cursor): Source | undefined {
  const f = c.fields(['identities', 'workloads', 'labels']);
  if (!f) return undefined;
  const sources = parseFrom(c);
  const s = sources.find((x) => x.peer === 'authenticated');
  if (!s) return undefined;
  if (s.principals.some((p) => p.kind === 'present')) {
    f.get('identities')?.error('setBy "*" trusts every caller', 'name the identities that set the header');
    return undefined;
  }
  return s;
}

/** Native `from` → sources: one for identities/workloads/labels, one for `unauthenticated`. */
export function parseFrom(c: Cursor): Source[] {
  const f = c.fields(['identities', 'workloads', 'labels', 'unauthenticated']);
  if (!f) return [];
  const sources: Source[] = [];
  const idsC = f.get('identities');
  const principals: StringMatch[] = [];
  for (const [i, text] of (idsC?.strings() ?? []).entries()) {
    const parsed = parseIdentityPattern(text);
    if (!parsed.ok) {
      idsC
        ?.items()
        [i]?.error(
          `malformed identity "${text}": ${reasonOf(parsed)}`,
          'exact: spiffe://td/ns/x/sa/y; below a segment: spiffe://td/ns/x/*; any authenticated: "*"',
        );
      continue;
    }
    const p = parsed.value;
    if (p.kind === 'any') principals.push({ kind: 'present', value: '' });
    else if (p.kind === 'exact') principals.push({ kind: 'exact', value: p.id });
    else principals.push({ kind: 'segment-prefix', value: p.base });
  }
  const workloads = referWorkloads(f.get('workloads'));
  const labels = f.get('labels') ? parseLabelSelectors(f.get('labels') as Cursor) : [];
  if (principals.length + workloads.length + labels.length > 0) {
    sources.push({ ...emptySource('authenticated'), principals, workloads, labels });
  }
  const unauth = f.get('unauthenticated')?.bool();
  if (unauth) sources.push(emptySource('unauthenticated'));
  if (
    sources.length === 0 &&
    idsC === undefined &&
    f.get('workloads') === undefined &&
    f.get('labels') === undefined &&
    unauth === undefined
  ) {
    c.error('from names no caller', 'give identities, workloads, labels or unauthenticated: true');
  }
  return sources;
}

/**
 * `pathCase` says whether a path pattern matches without regard to case. An application that
 * serves `/Admin/x` as `/admin/x` (Windows, many Java and .NET stacks) must not slip past a deny,
 * so a deny or audit rule matches paths in any case unless told `sensitive`; an allow rule matches
 * them exactly as written unless told `insensitive` (it never admits more than it names).
 */
