/**
 * What the web page shows, as one JSON document: the served snapshot, the workloads with their
 * perimeters and sidecars, every perimeter's rules in words, the busiest flows, the
 * quarantine, and the dependency map as SVG. Built on request from the server's own state.
 */

import { describeMatch } from '../../contracts/string-match.js';
import type { CompileResult } from '../compile/compile.js';
import { matchToProto } from '../compile/proto-adapter.js';
import { buildMap, toSvg } from '../flows/map.js';
import type { Flow } from '../flows/store.js';
import type { Condition, Operation, PolicySet, Rule, Source, StringMatch } from '../policy/model.js';
import type { StatusReport } from './status.js';

export interface UiState {
  generatedAt: string;
  snapshot: StatusReport['snapshot'];
  lastRejected: StatusReport['lastRejected'];
  meshDefault: string | undefined;
  workloads: { name: string; identity: string; labels: Record<string, string>; perimeters: string[]; sidecars: number; inSync: boolean }[];
  perimeters: {
    name: string;
    owner: string;
    mode: string;
    crownJewel: boolean;
    workloads: string[];
    rules: RuleText[];
    /** The staged candidate, decided in shadow by the filters. */
    candidate: { mode: string; rules: RuleText[] } | undefined;
  }[];
  flows: (Flow & { source: string })[];
  quarantine: StatusReport['quarantine'];
  map: string;
}

export interface RuleText {
  name: string;
  action: string;
  mode: string;
  from: string;
  to: string;
  when: string;
  expires: string | undefined;
}

export const UI_FLOW_LIMIT = 500;

/**
 * What the page needs of the loaded policy, made where it is compiled (the compile worker) so
 * that the server's event loop never holds the whole policy: small, plain, cheap to pass.
 */
export interface PolicyView {
  meshDefault: string;
  workloads: { workload: { name: string; identity: string; labels: Record<string, string> }; perimeters: string[] }[];
  perimeters: Omit<UiState['perimeters'][number], 'workloads'>[];
}

export function policyView(policy: PolicySet, compiled: CompileResult): PolicyView {
  return {
    meshDefault: policy.mesh.defaultMode,
    workloads: compiled.workloads.map((w) => ({
      workload: { name: w.workload.name, identity: w.workload.identity, labels: w.workload.labels },
      perimeters: w.perimeters,
    })),
    perimeters: policy.perimeters.map((p) => ({
      name: p.name,
      owner: p.owner,
      mode: p.mode,
      crownJewel: p.crownJewel,
      rules: p.rules.map((r) => describeRule(r, p.mode)),
      candidate: p.candidate
        ? { mode: p.candidate.mode, rules: p.candidate.rules.map((r) => describeRule(r, p.candidate?.mode ?? p.mode)) }
        : undefined,
    })),
  };
}

export function uiState(status: StatusReport, view: PolicyView | undefined, flows: readonly Flow[]): UiState {
  const sidecars = (identity: string) => status.sidecars.filter((s) => s.identity === identity);
  const modes = new Map((view?.perimeters ?? []).map((p) => [p.name, p.mode as string]));
  const workloads = view?.workloads ?? [];
  return {
    generatedAt: new Date().toISOString(),
    snapshot: status.snapshot,
    lastRejected: status.lastRejected,
    meshDefault: view?.meshDefault,
    workloads: workloads.map((w) => ({
      name: w.workload.name,
      identity: w.workload.identity,
      labels: w.workload.labels,
      perimeters: w.perimeters,
      sidecars: sidecars(w.workload.identity).length,
      inSync: sidecars(w.workload.identity).every((s) => s.inSync),
    })),
    perimeters: (view?.perimeters ?? []).map((p) => ({
      ...p,
      workloads: workloads.filter((w) => w.perimeters.includes(p.name)).map((w) => w.workload.name),
    })),
    flows: [...flows]
      .sort((a, b) => b.count - a.count)
      .slice(0, UI_FLOW_LIMIT)
      .map((f) => ({ ...f, source: f.source ?? 'unauthenticated' })),
    quarantine: status.quarantine,
    map: view ? toSvg(buildMap(view, modes, flows)) : '',
  };
}

const match = (m: StringMatch): string => describeMatch(matchToProto(m));
const some = (label: string, ms: readonly StringMatch[], not = false) =>
  ms.length ? `${not ? 'not ' : ''}${label} ${ms.map(match).join(' | ')}` : '';
const joined = (parts: string[], sep: string) => parts.filter(Boolean).join(sep);

function source(s: Source): string {
  return (
    joined(
      [
        s.peer === 'unauthenticated' ? 'unauthenticated' : '',
        s.workloads.length ? `workloads ${s.workloads.join(' | ')}` : '',
        s.labels.length
          ? `labels ${s.labels
              .map((l) =>
                Object.entries(l)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(','),
              )
              .join(' | ')}`
          : '',
        some('identity', s.principals),
        some('identity', s.notPrincipals, true),
        some('namespace', s.namespaces),
        some('namespace', s.notNamespaces, true),
        some('request principal', s.requestPrincipals),
        some('request principal', s.notRequestPrincipals, true),
      ],
      ', ',
    ) || (s.peer === 'authenticated' ? 'any authenticated caller' : 'any caller')
  );
}

function operation(o: Operation): string {
  return (
    joined(
      [
        o.methods.map(match).join('|'),
        o.notMethods.length ? `not ${o.notMethods.map(match).join('|')}` : '',
        o.paths.map(match).join(' | '),
        some('', o.notPaths, true).trim(),
        some('host', o.hosts),
        some('host', o.notHosts, true),
        o.ports.length ? `port ${o.ports.join('|')}` : '',
        o.notPorts.length ? `not port ${o.notPorts.join('|')}` : '',
      ],
      ' ',
    ) || 'any request'
  );
}

function condition(c: Condition): string {
  const key = c.attribute === 'header' || c.attribute === 'claim' ? `${c.attribute} ${c.key}` : c.attribute;
  return joined([c.values.length ? `${key} = ${c.values.map(match).join(' | ')}` : '', some(`${key} ≠`, c.notValues)], ', ');
}

export function describeRule(r: Rule, perimeterMode: string): RuleText {
  return {
    name: r.name,
    action: r.action,
    mode: r.mode ?? perimeterMode,
    from: r.from.length ? r.from.map(source).join(' or ') : 'any caller',
    to: r.to.length ? r.to.map(operation).join(' or ') : 'any request',
    when: r.when.map(condition).join(' and '),
    expires: r.expiresUnixMs ? new Date(r.expiresUnixMs).toISOString() : undefined,
  };
}
