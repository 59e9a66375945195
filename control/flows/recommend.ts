/**
 * A least-privilege Perimeter for one workload from its recorded flows: one rule per caller
 * (or per label group, when every workload of that label called), with the methods and path
 * templates seen, in `simulate` mode so it is observed before it is enforced. Every rule carries
 * its evidence as comments. Unauthenticated callers and callers seen only denied are never
 * allowed; the output says what it left out and why.
 */
import type { Workload } from '../policy/model.js';
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
const q = (s: string) => (/^[\w./*-]+$/.test(s) && !s.startsWith('*') ? s : JSON.stringify(s));

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

  const lines: string[] = [
    `# Recommended by perimeter recommend from ${mine.reduce((n, f) => n + f.count, 0)} observed requests to ${target.name}` +
      `${opts.since ? ` since ${iso(opts.since)}` : ''} (generated ${iso(opts.now ?? Date.now())}).`,
    '# Review it, keep it in simulate until the would-deny count stays at zero, then enforce.',
    ...excluded.map((e) => `# Not allowed: ${e.caller}: ${e.reason}.`),
    'apiVersion: perimeter.dev/v1',
    'kind: Perimeter',
    'metadata:',
    `  name: ${q(target.name)}`,
    'spec:',
    '  owner: recommended',
    '  mode: simulate',
    '  selector:',
    `    workloads: [${q(target.name)}]`,
  ];
  if (callers.length === 0)
    lines.push('  rules: []', '# No caller was observed that could be allowed: the workload would deny everything.');
  else lines.push('  rules:');
  for (const c of callers) {
    const requests = c.flows.reduce((n, f) => n + f.count, 0);
    const last = Math.max(...c.flows.map((f) => f.lastMs));
    const methods = [...new Set(c.flows.map((f) => f.method))].filter((m) => m !== 'UNKNOWN').sort();
    const paths = new Map<string, boolean>();
    for (const f of c.flows) {
      const p = policyPath(f.template);
      paths.set(p.path, (paths.get(p.path) ?? false) || p.widened);
    }
    const name = `from-${c.key
      .replace(/^spiffe:\/\//, '')
      .replace(/[^A-Za-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')}`.toLowerCase();
    lines.push(
      `    # ${requests} requests, last seen ${iso(last)}${
        c.label
          ? `; every workload labelled ${Object.entries(c.label)
              .map(([k, v]) => `${k}=${v}`)
              .join(',')} called (${c.workloads.join(', ')})`
          : ''
      }`,
    );
    for (const f of c.flows
      .slice()
      .sort((a, b) => b.count - a.count)
      .slice(0, 5))
      lines.push(
        `    #   ${f.method} ${f.template}: ${f.count} (${f.allowed} allowed, ${f.wouldDeny} would deny, ${f.denied} denied), e.g. ${f.lastPath}`,
      );
    if ([...paths.values()].some(Boolean))
      lines.push('    #   (a template with an identifier before its end is widened to everything under its first part)');
    lines.push(`    - name: ${q(name)}`, '      action: allow', '      from:');
    if (c.label)
      lines.push(
        `        labels: {${Object.entries(c.label)
          .map(([k, v]) => `${k}: ${q(v)}`)
          .join(', ')}}`,
      );
    else if (c.identity) lines.push(`        identities: [${q(c.identity)}]`);
    else lines.push(`        workloads: [${c.workloads.map(q).join(', ')}]`);
    lines.push('      to:');
    if (methods.length) lines.push(`        methods: [${methods.join(', ')}]`);
    lines.push(`        paths: [${[...paths.keys()].sort().map(q).join(', ')}]`);
  }
  return { yaml: `${lines.join('\n')}\n`, rules: callers.length, excluded };
}
