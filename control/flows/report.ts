/**
 * `perimeter report`: the posture of a policy and how its rules are used. Posture is read from
 * the compiled policy (what the filters enforce): the share of workloads that deny by default,
 * perimeters not yet enforced, allow rules open to any identity, and how many registered
 * identities can reach each crown-jewel workload. Use comes from the rule hits the filters'
 * decision records carry to the control server: a rule nothing hit is a candidate for removal.
 */
import type { CompiledSource } from '../../proto/gen/perimeter/v1/compiled.js';
import { Action, Mode, Source_Peer, StringMatch_Kind } from '../../proto/gen/perimeter/v1/policy.js';
import { type CompileResult, ISTIO_DEFAULT_PERIMETER, ruleLabel as label } from '../compile/compile.js';
import { sourceMatches } from '../eval/evaluate.js';
import type { PolicySet } from '../policy/model.js';
import type { Flow, RuleHits } from './store.js';

export interface RuleUse {
  /** `perimeter/rule` */
  rule: string;
  action: string;
  mode: string;
  workloads: string[];
  hits: number;
  lastMs: number | undefined;
}

export interface Report {
  posture: {
    workloads: number;
    defaultDeny: string[];
    notDefaultDeny: string[];
    notEnforced: { perimeter: string; mode: string; workloads: string[] }[];
    openRules: { rule: string; mode: string; open: string; workloads: string[] }[];
    crownJewels: {
      workload: string;
      perimeters: string[];
      reachableBy: string[];
      registered: number;
      anyIdentity: boolean;
      unauthenticated: boolean;
    }[];
  };
  /** undefined when no rule hits were ever recorded (no control server state). */
  rules: RuleUse[] | undefined;
  unused: RuleUse[] | undefined;
  candidates: { perimeter: string; workloads: string[]; disagreements: number; flows: number }[];
}

const modeName = (m: Mode) => (Mode[m] ?? '').replace(/^MODE_/, '').toLowerCase();
const actionName = (a: Action) => (Action[a] ?? '').replace(/^ACTION_/, '').toLowerCase();

/** What makes a source open to everyone, or undefined when it names its callers. */
function openness(s: CompiledSource, trustDomain: string): string | undefined {
  if (s.principals.length === 0 && s.namespaces.length === 0 && s.requestPrincipals.length === 0) {
    if (s.peer === Source_Peer.PEER_UNAUTHENTICATED) return 'unauthenticated callers';
    return s.peer === Source_Peer.PEER_AUTHENTICATED ? 'any authenticated identity' : 'any caller, with or without a certificate';
  }
  if (s.peer !== Source_Peer.PEER_UNAUTHENTICATED && s.principals.some((m) => m.kind === StringMatch_Kind.KIND_PRESENT))
    return 'any authenticated identity';
  const whole = `spiffe://${trustDomain}`;
  const wide = s.principals.find(
    (m) =>
      (m.kind === StringMatch_Kind.KIND_PREFIX || m.kind === StringMatch_Kind.KIND_SEGMENT_PREFIX) &&
      whole.startsWith(m.value.replace(/\/$/, '')),
  );
  return wide ? `every identity of ${trustDomain} (${wide.value}…)` : undefined;
}

export function report(
  policy: PolicySet,
  compiled: CompileResult,
  hits: readonly RuleHits[] | undefined,
  flows: readonly Flow[],
  sinceMs?: number,
): Report {
  const ws = compiled.workloads;
  const byPerimeter = (name: string) => ws.filter((w) => w.perimeters.includes(name)).map((w) => w.workload.name);

  const open = new Map<string, Report['posture']['openRules'][number]>();
  for (const w of ws) {
    for (const r of w.policy.rules) {
      if (r.action !== Action.ACTION_ALLOW) continue;
      const p = w.policy.perimeters[r.perimeter];
      if (p?.name === ISTIO_DEFAULT_PERIMETER) continue;
      const why = r.sources.map((s) => openness(s, policy.mesh.trustDomain)).find(Boolean);
      if (!why) continue;
      const key = label(w.policy, r);
      const e = open.get(key) ?? { rule: key, mode: modeName(r.mode), open: why, workloads: [] };
      e.workloads.push(w.workload.name);
      open.set(key, e);
    }
  }

  const jewels = policy.perimeters.filter((p) => p.crownJewel).map((p) => p.name);
  const crownJewels = ws
    .filter((w) => w.perimeters.some((p) => jewels.includes(p)))
    .map((w) => {
      const allows = w.policy.rules.filter((r) => r.action === Action.ACTION_ALLOW);
      // Reachable: some allow rule admits the identity as a caller, whatever it then asks for.
      const admits = (principal: string | undefined) =>
        allows.some((r) =>
          r.sources.some((s) =>
            sourceMatches(
              { ...s, requestPrincipals: [], notRequestPrincipals: [] },
              { ...(principal ? { principal } : {}), methodBit: 0, path: '/', host: '', authority: '', headers: {}, nowMs: 0 },
            ),
          ),
        );
      const others = policy.workloads.filter((x) => x.name !== w.workload.name);
      return {
        workload: w.workload.name,
        perimeters: w.perimeters.filter((p) => jewels.includes(p)),
        reachableBy: others
          .filter((x) => admits(x.identity))
          .map((x) => x.name)
          .sort(),
        registered: others.length,
        anyIdentity: allows.some((r) => r.sources.some((s) => openness(s, policy.mesh.trustDomain) !== undefined)),
        unauthenticated: admits(undefined),
      };
    });

  let rules: RuleUse[] | undefined;
  if (hits) {
    const count = new Map<string, { hits: number; lastMs: number }>();
    for (const h of hits) {
      if (sinceMs !== undefined && h.lastMs < sinceMs) continue;
      const k = `${h.destination}\u0000${h.rule}`;
      count.set(k, { hits: h.hits, lastMs: h.lastMs });
    }
    const uses = new Map<string, RuleUse>();
    for (const w of ws) {
      for (const r of w.policy.rules) {
        const key = label(w.policy, r);
        if (key.startsWith(`${ISTIO_DEFAULT_PERIMETER}/`)) continue;
        const u = uses.get(key) ?? {
          rule: key,
          action: actionName(r.action),
          mode: modeName(r.mode),
          workloads: [],
          hits: 0,
          lastMs: undefined,
        };
        u.workloads.push(w.workload.name);
        const c = count.get(`${w.workload.name}\u0000${key}`);
        if (c) {
          u.hits += c.hits;
          u.lastMs = Math.max(u.lastMs ?? 0, c.lastMs);
        }
        uses.set(key, u);
      }
    }
    rules = [...uses.values()];
  }

  const staged = policy.perimeters.filter((p) => p.candidate);
  const candidates = staged.map((p) => {
    const mine = new Set(byPerimeter(p.name));
    const fs = flows.filter((f) => f.disagree > 0 && mine.has(f.destination));
    return { perimeter: p.name, workloads: [...mine], disagreements: fs.reduce((n, f) => n + f.disagree, 0), flows: fs.length };
  });

  const defaultDeny = ws.filter((w) => w.policy.defaultMode === Mode.MODE_ENFORCE).map((w) => w.workload.name);
  return {
    posture: {
      workloads: ws.length,
      defaultDeny,
      notDefaultDeny: ws.map((w) => w.workload.name).filter((n) => !defaultDeny.includes(n)),
      notEnforced: policy.perimeters
        .filter((p) => p.mode !== 'enforce')
        .map((p) => ({ perimeter: p.name, mode: p.mode, workloads: byPerimeter(p.name) })),
      openRules: [...open.values()],
      crownJewels,
    },
    rules,
    unused: rules?.filter((r) => r.hits === 0),
    candidates,
  };
}
