/**
 * A least-privilege Perimeter for one workload from its recorded flows: one rule per caller
 * (or per label group, when every workload of that label called), with the methods and path
 * templates seen, in `simulate` mode so it is observed before it is enforced. Every rule carries
 * its evidence as comments. Unauthenticated callers and callers seen only denied are never
 * allowed; the output says what it left out and why.
 */
import { Document, parseAllDocuments, type YAMLMap, type YAMLSeq } from 'yaml';
import { parseSpiffeId } from '../../contracts/spiffe.js';
import type { Workload } from '../policy/model.js';
import { methodProblem } from '../policy/parse-rule.js';
import { parsePathPattern } from '../policy/patterns.js';
import { printable } from './recorded.js';
import type { Flow } from './store.js';

export interface Recommendation {
  yaml: string;
  rules: number;
  /** Callers left out, with the reason (also comments in the YAML). */
  excluded: { caller: string; reason: string }[];
}

interface Caller {
  key: string;
  /** Registry workload names, or undefined for an identity outside the registry. */
  workloads: string[];
  identity: string | undefined;
  label: Record<string, string> | undefined;
  flows: Flow[];
}

const iso = (t: number) => new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');

/** A template in the policy's path language: exact, or `/a/*` for everything under /a. */
export function policyPath(template: string): { path: string; widened: boolean } {
  const star = template.indexOf('*');
  if (star < 0) return { path: template, widened: false };
  const head = template.slice(0, star).replace(/\/$/, '');
  const exact = template.endsWith('/*') && template.indexOf('*') === template.length - 1;
  // `/*` in the policy is every path: an identifier right under the root widens to all of it.
  return { path: `${head}/*`, widened: !exact || head === '' };
}

/** Label pairs whose every member called (at least two members): one rule instead of several. */
function labelGroups(
  callers: Set<string>,
  registry: readonly Workload[],
): Map<string, { label: Record<string, string>; members: string[] }> {
  const byPair = new Map<string, string[]>();
  for (const w of registry)
    for (const [k, v] of Object.entries(w.labels)) byPair.set(`${k}=${v}`, [...(byPair.get(`${k}=${v}`) ?? []), w.name]);
  const groups = new Map<string, { label: Record<string, string>; members: string[] }>();
  const taken = new Set<string>();
  for (const [pair, members] of [...byPair].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))) {
    if (members.length < 2 || !members.every((m) => callers.has(m) && !taken.has(m))) continue;
    const [k, v] = pair.split('=') as [string, string];
    groups.set(pair, { label: { [k]: v }, members });
    for (const m of members) taken.add(m);
  }
  return groups;
}

export function recommend(
  target: Workload,
  registry: readonly Workload[],
  flows: readonly Flow[],
  opts: { now?: number; since?: number } = {},
): Recommendation {
  const mine = flows.filter((f) => f.destination === target.name);
  const byIdentity = new Map(registry.map((w) => [w.identity, w]));
  const excluded: Recommendation['excluded'] = [];
  const unauth = mine.filter((f) => f.source === undefined).reduce((n, f) => n + f.count, 0);
  if (unauth)
    excluded.push({
      caller: 'unauthenticated',
      reason: `${unauth} requests without a client certificate: never allowed by a recommendation`,
    });

  const perSource = new Map<string, Flow[]>();
  for (const f of mine) if (f.source !== undefined) perSource.set(f.source, [...(perSource.get(f.source) ?? []), f]);
  const admitted = new Map<string, Flow[]>();
  for (const [source, fs] of perSource) {
    const ok = fs.filter((f) => f.allowed + f.wouldDeny > 0);
    const who = byIdentity.get(source)?.name ?? source;
    if (!parseSpiffeId(source).ok) {
      excluded.push({ caller: who, reason: 'the recorded identity is not a SPIFFE ID: never allowed' });
      continue;
    }
    if (ok.length === 0) {
      const denied = fs.reduce((n, f) => n + f.denied, 0);
      excluded.push({
        caller: who,
        reason: `seen only denied (${denied} requests, last ${iso(Math.max(...fs.map((f) => f.lastMs)))}): not allowed; add it by hand if it is legitimate`,
      });
      continue;
    }
    admitted.set(source, ok);
  }

  const registered = new Set([...admitted.keys()].map((s) => byIdentity.get(s)?.name).filter((n): n is string => n !== undefined));
  const groups = labelGroups(registered, registry);
  const grouped = new Set([...groups.values()].flatMap((g) => g.members));
  const callers: Caller[] = [];
  for (const [pair, g] of groups)
    callers.push({
      key: pair,
      workloads: g.members,
      identity: undefined,
      label: g.label,
      flows: g.members.flatMap((m) => admitted.get((registry.find((w) => w.name === m) as Workload).identity) ?? []),
    });
  for (const [source, fs] of admitted) {
    const w = byIdentity.get(source);
    if (w && grouped.has(w.name)) continue;
    callers.push({ key: w?.name ?? source, workloads: w ? [w.name] : [], identity: w ? undefined : source, label: undefined, flows: fs });
  }
  callers.sort((a, b) => a.key.localeCompare(b.key));

  // Built as a document by the YAML library, never by joining strings: a recorded value is a
  // scalar or a comment line, and can never become structure.
  const doc = new Document({
    apiVersion: 'perimeter.dev/v1',
    kind: 'Perimeter',
    metadata: { name: target.name },
    spec: { owner: 'recommended', mode: 'simulate', selector: { workloads: [target.name] }, rules: [] as unknown[] },
  });
  const rules = doc.getIn(['spec', 'rules']) as YAMLSeq;
  rules.flow = false;
  for (const c of callers) {
    const requests = c.flows.reduce((n, f) => n + f.count, 0);
    const last = Math.max(...c.flows.map((f) => f.lastMs));
    const methods = [...new Set(c.flows.map((f) => f.method))].filter((m) => methodProblem(m) === undefined).sort();
    const paths = new Map<string, boolean>();
    for (const f of c.flows) {
      const p = policyPath(f.template);
      // What the policy language would refuse (a template recorded before intake checked it) is left out.
      if (!parsePathPattern(p.path).ok) continue;
      paths.set(p.path, (paths.get(p.path) ?? false) || p.widened);
    }
    if (paths.size === 0) {
      excluded.push({ caller: c.key, reason: 'no recorded path could be written as a policy path' });
      continue;
    }
    const name = `from-${c.key
      .replace(/^spiffe:\/\//, '')
      .replace(/[^A-Za-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')}`
      .toLowerCase()
      .slice(0, 63)
      .replace(/-$/, '');
    const from = c.label ? { labels: c.label } : c.identity ? { identities: [c.identity] } : { workloads: c.workloads };
    const rule = doc.createNode({
      name,
      action: 'allow',
      from,
      to: { ...(methods.length ? { methods } : {}), paths: [...paths.keys()].sort() },
    }) as YAMLMap;
    for (const key of ['labels', 'methods', 'paths', 'identities', 'workloads']) {
      const n = (rule.getIn(['from', key]) ?? rule.getIn(['to', key])) as { flow?: boolean } | undefined;
      if (n) n.flow = true;
    }
    const evidence = [
      ` ${requests} requests, last seen ${iso(last)}${
        c.label
          ? `; every workload labelled ${Object.entries(c.label)
              .map(([k, v]) => `${k}=${v}`)
              .join(',')} called (${c.workloads.join(', ')})`
          : ''
      }`,
      ...c.flows
        .slice()
        .sort((a, b) => b.count - a.count)
        .slice(0, 5)
        .map(
          (f) =>
            `   ${f.method} ${printable(f.template)}: ${f.count} (${f.allowed} allowed, ${f.wouldDeny} would deny, ${f.denied} denied), e.g. ${printable(f.lastPath)}`,
        ),
      ...([...paths.values()].some(Boolean)
        ? ['   (a template with an identifier before its end is widened to everything under its first part)']
        : []),
    ];
    rule.commentBefore = evidence.join('\n');
    rules.add(rule);
  }
  if (rules.items.length === 0) {
    rules.flow = true;
    doc.comment = ' No caller was observed that could be allowed: the workload would deny everything.';
  }
  doc.commentBefore = [
    ` Recommended by perimeter recommend from ${mine.reduce((n, f) => n + f.count, 0)} observed requests to ${target.name}` +
      `${opts.since ? ` since ${iso(opts.since)}` : ''} (generated ${iso(opts.now ?? Date.now())}).`,
    ' Review it, keep it in simulate until the would-deny count stays at zero, then enforce.',
    ...excluded.map((e) => ` Not allowed: ${printable(e.caller)}: ${e.reason}.`),
  ].join('\n');
  (doc.getIn(['spec', 'selector', 'workloads']) as YAMLSeq).flow = true;
  const yaml = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  const problem = notExactlyOnePerimeter(yaml, target.name);
  if (problem) throw new Error(`internal error: the recommendation for ${target.name} is not one perimeter for it: ${problem}`);
  return { yaml, rules: rules.items.length, excluded };
}

/**
 * Why a recommendation's text is not exactly what recommend makes (one Perimeter document for
 * the workload asked for, in simulate, with allow rules only), or undefined. The CLI checks it
 * again before it prints or writes anything.
 */
export function notExactlyOnePerimeter(text: string, workload: string): string | undefined {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs) || docs.length !== 1) return `${Array.isArray(docs) ? docs.length : 0} documents`;
  const d = docs[0] as Document.Parsed;
  if (d.errors.length) return d.errors[0]?.message;
  const v = d.toJS() as {
    kind?: unknown;
    metadata?: { name?: unknown };
    spec?: { mode?: unknown; selector?: unknown; rules?: { action?: unknown; mode?: unknown }[]; candidate?: unknown };
  };
  if (v?.kind !== 'Perimeter') return `kind ${JSON.stringify(v?.kind)}`;
  if (v.metadata?.name !== workload) return `metadata.name ${JSON.stringify(v.metadata?.name)}`;
  if (v.spec?.mode !== 'simulate') return `mode ${JSON.stringify(v.spec?.mode)}`;
  if (JSON.stringify(v.spec?.selector) !== JSON.stringify({ workloads: [workload] })) return 'a selector for other workloads';
  if (v.spec?.candidate !== undefined) return 'a staged candidate';
  if (!Array.isArray(v.spec?.rules) || v.spec.rules.some((r) => r?.action !== 'allow' || r?.mode !== undefined))
    return 'a rule that is not a plain allow';
  return undefined;
}
