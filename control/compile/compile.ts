/**
 * The compiler: a validated policy set into one CompiledPolicy per registered workload,
 * with deterministic bytes and version = content digest. Label selectors and workload names
 * in `from` are resolved here, through the registry, into exact identities.
 */
import { createHash } from 'node:crypto';
import { MAX_METHOD_TABLE, methodMask, needsTableEntry } from '../../contracts/methods.js';
import type { PathParameters } from '../../contracts/request-path.js';
import { asciiLower } from '../../contracts/string-match.js';
import {
  type CompiledCondition,
  type CompiledOperation,
  type CompiledPerimeter,
  CompiledPolicy,
  type CompiledRule,
  FormatVersion,
  Need,
  PathParameters as PPathParameters,
} from '../../proto/gen/perimeter/v1/compiled.js';
import { Action as PAction, Mode as PMode } from '../../proto/gen/perimeter/v1/policy.js';
import { type Mesh, type Mode, modeRank, type Perimeter, type PolicySet, type Rule, type Workload } from '../policy/model.js';
import { Registry } from '../policy/registry.js';
import { anySource, compileSource, identityMatchers, type Names, trustedSetters } from './compile-source.js';
import { ACTION_TO_PROTO, ATTRIBUTE_TO_PROTO, MODE_TO_PROTO, matchToProto } from './proto-adapter.js';
import { trustBundle } from './trust-domains.js';

export { anySource };

/** Istio allows requests to a workload that no ALLOW policy selects (perimeters with defaultDeny: false); this rule says so. */
export const ISTIO_DEFAULT_PERIMETER = 'istio-default';
export const ISTIO_DEFAULT_RULE = 'allow-without-allow-policy';

export interface CompiledWorkload {
  workload: Workload;
  policy: CompiledPolicy;
  bytes: Uint8Array;
  version: string;
  /** Perimeters that select this workload, by name. */
  perimeters: string[];
}

export interface CompileResult {
  workloads: CompiledWorkload[];
  /** Digest over every workload's version: the snapshot version. */
  version: string;
  /** Perimeters that select no registered workload. */
  unused: string[];
}

/** `perimeter/rule`: how records, counters and reports name a compiled rule. */
export function ruleLabel(p: CompiledPolicy, r: CompiledRule): string {
  return `${p.perimeters[r.perimeter]?.name ?? '?'}/${r.name}`;
}

export function digest(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function compile(policy: PolicySet): CompileResult {
  const registry = new Registry(policy.workloads);
  const perimeters = [...policy.perimeters].sort(byName);
  const protectedBy = new Map<Workload, Perimeter[]>();
  const unused: string[] = [];
  for (const p of perimeters) {
    const selected = registry.select(p.selector);
    if (selected.length === 0) unused.push(p.name);
    for (const w of selected) {
      const list = protectedBy.get(w);
      if (list) list.push(p);
      else protectedBy.set(w, [p]);
    }
  }
  const workloads = [...policy.workloads].sort(byName).map((w) => compileWorkload(w, protectedBy.get(w) ?? [], policy.mesh, registry));
  return {
    workloads,
    version: digest(workloads.map((w) => `${w.workload.name}=${w.version}`).join('\n')),
    unused,
  };
}

export function compileWorkload(workload: Workload, mine: readonly Perimeter[], mesh: Mesh, registry: Registry): CompiledWorkload {
  // A staged candidate is the same workload's policy with each candidate in place of its
  // perimeter's rules. Both read one headers/claims table, so the filter fetches once for both.
  const staged = mine.some((p) => p.candidate)
    ? mine.map((p) => (p.candidate ? { ...p, mode: p.candidate.mode, rules: p.candidate.rules } : p))
    : undefined;
  const keysFrom = staged ? [...mine, ...staged] : mine;
  const message = compileMessage(workload, mine, mesh, registry, keysFrom);
  if (staged) {
    const candidate = compileMessage(workload, staged, mesh, registry, keysFrom);
    candidate.version = encodeVersioned(candidate).version;
    message.candidate = candidate;
    message.needs |= candidate.needs;
  }
  const { bytes, version } = encodeVersioned(message);
  message.version = version;
  return { workload, policy: message, bytes, version, perimeters: mine.map((p) => p.name) };
}

function compileMessage(
  workload: Workload,
  mine: readonly Perimeter[],
  mesh: Mesh,
  registry: Registry,
  keysFrom: readonly Perimeter[],
): CompiledPolicy {
  const keysOf = (attribute: 'header' | 'claim') =>
    [...new Set(keysFrom.flatMap((p) => p.rules.flatMap((r) => r.when.filter((c) => c.attribute === attribute).map((c) => c.key))))].sort();
  const headers = keysOf('header');
  const claims = keysOf('claim');
  const methods = methodTable(keysFrom);
  const bundle = trustBundle(mesh);
  let needs = 0;
  const compiledPerimeters: CompiledPerimeter[] = mine.map((p) => ({ name: p.name, mode: MODE_TO_PROTO[p.mode], owner: p.owner }));
  const rules: CompiledRule[] = [];

  mine.forEach((p, pi) => {
    for (const rule of p.rules) {
      const r = compileRule(rule, p, pi, registry, { headers, claims, methods, bundle });
      needs |= r.needs;
      rules.push(r.rule);
    }
  });

  // Istio: a workload with only DENY/AUDIT policies (no ALLOW policy) allows by default.
  if (mine.length > 0 && mine.every((p) => p.defaultDeny === false)) {
    compiledPerimeters.push({ name: ISTIO_DEFAULT_PERIMETER, mode: PMode.MODE_ENFORCE, owner: 'istio' });
    rules.push({
      name: ISTIO_DEFAULT_RULE,
      perimeter: compiledPerimeters.length - 1,
      action: PAction.ACTION_ALLOW,
      mode: PMode.MODE_ENFORCE,
      expiresUnixMs: 0,
      sources: [anySource()],
      operations: [],
      conditions: [],
    });
  }

  let defaultMode: Mode = mesh.defaultMode;
  let defaultPerimeter = '';
  if (mine.length > 0) {
    const strongest = mine.reduce((best, p) => (modeRank(p.mode) > modeRank(best.mode) ? p : best));
    defaultMode = strongest.mode;
    defaultPerimeter = strongest.name;
  }

  return {
    formatVersion: FormatVersion.FORMAT_VERSION_CURRENT,
    version: '',
    workload: workload.name,
    identity: workload.identity,
    defaultMode: MODE_TO_PROTO[defaultMode],
    defaultPerimeter,
    perimeters: compiledPerimeters,
    rules,
    headers,
    claims,
    needs,
    candidate: undefined,
    methods,
    pathParameters: PATH_PARAMETERS_TO_PROTO[workload.pathParameters ?? mesh.pathParameters ?? 'reject'],
  };
}

const PATH_PARAMETERS_TO_PROTO: Record<PathParameters, PPathParameters> = {
  reject: PPathParameters.PATH_PARAMETERS_REJECT,
  strip: PPathParameters.PATH_PARAMETERS_STRIP,
  keep: PPathParameters.PATH_PARAMETERS_KEEP,
};

/**
 * Encodes once and derives the version from the bytes: protobuf concatenation is a merge, so
 * the head (fields 1-2) and the body (fields 3+) are encoded apart and the version, the digest
 * of the message without it, is spliced between them in canonical field order.
 */
export function encodeVersioned(message: CompiledPolicy): { bytes: Uint8Array; version: string } {
  const body = CompiledPolicy.encode({ ...message, formatVersion: 0, version: '' }).finish();
  const headWithoutVersion = CompiledPolicy.encode({ ...EMPTY, formatVersion: message.formatVersion }).finish();
  const version = createHash('sha256').update(headWithoutVersion).update(body).digest('hex').slice(0, 16);
  const head = CompiledPolicy.encode({ ...EMPTY, formatVersion: message.formatVersion, version }).finish();
  const bytes = new Uint8Array(head.length + body.length);
  bytes.set(head, 0);
  bytes.set(body, head.length);
  return { bytes, version };
}

const EMPTY: CompiledPolicy = CompiledPolicy.fromPartial({});

/** The tables a workload's rules index into (shared with its staged candidate). */
interface Tables {
  headers: readonly string[];
  claims: readonly string[];
  methods: CompiledPolicy['methods'];
  /** The mesh's trust-domain bundle (trust-domains.ts). */
  bundle: readonly string[];
}

/**
 * Method matchers beyond the nine standard methods, in a stable order. validateSet refuses a
 * workload whose policies need more than the mask can name, so more here is a bug.
 */
function methodTable(perimeters: readonly Perimeter[]): CompiledPolicy['methods'] {
  const seen = new Map<string, CompiledPolicy['methods'][number]>();
  for (const p of perimeters)
    for (const r of p.rules)
      for (const o of r.to)
        for (const m of [...o.methods, ...o.notMethods].map(matchToProto)) if (needsTableEntry(m)) seen.set(`${m.kind}:${m.value}`, m);
  const table = [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, m]) => m);
  if (table.length > MAX_METHOD_TABLE)
    throw new Error(`${table.length} method matchers for one workload (validation allows ${MAX_METHOD_TABLE})`);
  return table;
}

function compileRule(
  rule: Rule,
  p: Perimeter,
  perimeterIndex: number,
  registry: Registry,
  { headers, claims, methods, bundle }: Tables,
): { rule: CompiledRule; needs: number } {
  let needs = 0;
  const names: Names = { bundle, istio: p.origin === 'istio' };
  const sources = rule.from.length === 0 ? [anySource()] : rule.from.flatMap((s) => compileSource(s, registry, names));
  if (sources.some((s) => s.requestPrincipals.length + s.notRequestPrincipals.length > 0)) needs |= Need.NEED_CLAIMS;
  const operations: CompiledOperation[] = rule.to.map((o) => {
    if (o.hosts.length + o.notHosts.length + o.authorities.length + o.notAuthorities.length > 0) needs |= Need.NEED_HOST;
    if (o.ports.length + o.notPorts.length > 0) needs |= Need.NEED_PORT;
    return {
      methods: methodMask(o.methods.map(matchToProto), methods),
      notMethods: methodMask(o.notMethods.map(matchToProto), methods),
      paths: o.paths.map(matchToProto),
      notPaths: o.notPaths.map(matchToProto),
      hosts: o.hosts.map((m) => matchToProto({ kind: m.kind, value: asciiLower(m.value) })),
      notHosts: o.notHosts.map((m) => matchToProto({ kind: m.kind, value: asciiLower(m.value) })),
      authorities: o.authorities.map((m) => matchToProto({ kind: m.kind, value: asciiLower(m.value) })),
      notAuthorities: o.notAuthorities.map((m) => matchToProto({ kind: m.kind, value: asciiLower(m.value) })),
      ports: [...o.ports],
      notPorts: [...o.notPorts],
    };
  });
  const compileCondition = (c: Rule['when'][number]): CompiledCondition => {
    if (c.attribute === 'claim') needs |= Need.NEED_CLAIMS;
    if (c.attribute === 'port') needs |= Need.NEED_PORT;
    const key = c.attribute === 'header' ? headers.indexOf(c.key) : c.attribute === 'claim' ? claims.indexOf(c.key) : 0;
    return {
      attribute: ATTRIBUTE_TO_PROTO[c.attribute],
      key,
      values: c.attribute === 'principal' ? identityMatchers(c.values, names) : c.values.map(matchToProto),
      notValues: c.attribute === 'principal' ? identityMatchers(c.notValues, names) : c.notValues.map(matchToProto),
    };
  };
  const conditions: CompiledCondition[] = rule.when.flatMap((c) => [...trustedSetters(c, registry, names), compileCondition(c)]);
  if (rule.expiresUnixMs) needs |= Need.NEED_TIME;
  return {
    rule: {
      name: rule.name,
      perimeter: perimeterIndex,
      action: ACTION_TO_PROTO[rule.action],
      mode: MODE_TO_PROTO[rule.mode ?? p.mode],
      expiresUnixMs: rule.expiresUnixMs ?? 0,
      sources,
      operations,
      conditions,
    },
    needs,
  };
}
