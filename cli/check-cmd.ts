/**
 * `perimeter check`: what the policy decides for one request (or a file of flows), which rule
 * decided, and for a deny the nearest allow rule and the attribute that failed.
 * Exit codes: 0 allow, 3 deny (enforced or not), 1 usage or input error; with --flows,
 * 0 when every expectation holds and 4 when one does not.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { DEFAULT_RULE, MESH_PERIMETER, ruleRef, UNSAFE_RULE } from '../contracts/decision-record.js';
import type { PolicyRequest } from '../contracts/request.js';
import { connectionManagerPath, normalizePath } from '../contracts/request-path.js';
import { type CompiledWorkload, type CompileResult, ruleLabel } from '../control/compile/compile.js';
import { type Decision, evaluate, pathParametersOf, viewOf } from '../control/eval/evaluate.js';
import { type NearMiss, nearestAllow } from '../control/eval/explain.js';
import { FilterRunner } from '../envoy/filter-runner.js';
import { loadAndCompile } from './load-policy.js';
import { paint, table, verdictText } from './output.js';
import { callerIdentity, findWorkload, UsageError } from './targets.js';

export const EXIT = { ok: 0, input: 1, deny: 3, expectation: 4 } as const;

export interface CheckOptions {
  policy: string;
  to?: string;
  from?: string;
  method?: string;
  path?: string;
  host?: string;
  port?: string;
  header?: string[];
  claim?: string[];
  flows?: string;
  json?: boolean;
  engine?: string;
}

export interface CheckOutcome {
  to: string;
  from: string;
  engine: Engine;
  request: PolicyRequest;
  result: Decision;
  nearest?: NearMiss;
  /** With a staged candidate: what it decides (the filter compares the same in shadow). */
  candidate?: { decision: 'allow' | 'deny'; perimeter: string; rule: string; differs: boolean };
  /** Envoy's connection manager refuses the request before any filter runs (as the sidecar does). */
  rejected?: { status: number; details: string };
}

function pairs(list: readonly string[] | undefined, flag: string): [string, string][] {
  return (list ?? []).map((kv) => {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag} ${kv}: expected key=value`);
    return [kv.slice(0, eq), kv.slice(eq + 1)];
  });
}

export type Engine = 'wasm' | 'reference';

let runner: FilterRunner | undefined;

/** The decision from perimeter.wasm in the Envoy-faithful host, in the reference's shape. */
function decideWasm(
  target: CompiledWorkload,
  request: PolicyRequest,
): Decision & { record: string; localReply?: { status: number; details: string } } {
  runner ??= new FilterRunner();
  const f = runner.decide(target.bytes, request);
  const decided = ruleRef(f.rule);
  const policy = target.policy;
  const indexOf = (label: string | undefined) => (label === undefined ? -1 : policy.rules.findIndex((r) => ruleLabel(policy, r) === label));
  const ruleIndex = indexOf(f.rule);
  const code =
    decided.rule === DEFAULT_RULE
      ? 'deny_default'
      : decided.rule === UNSAFE_RULE
        ? 'deny_unsafe_request'
        : f.decision === 'allow'
          ? 'allow'
          : 'deny_rule';
  const stagedIndex = indexOf(f.staged);
  const auditIndex = indexOf(f.audit);
  return {
    decision: f.decision,
    enforced: f.enforced,
    mode: f.mode as Decision['mode'],
    perimeter: decided.perimeter,
    rule: decided.rule,
    ruleIndex,
    code,
    version: f.version,
    ...(auditIndex >= 0 ? { audit: policy.rules[auditIndex]?.name as string, auditIndex } : {}),
    ...(stagedIndex >= 0 && f.staged
      ? {
          staged: {
            decision: 'allow' as const,
            rule: f.staged.slice(f.staged.indexOf('/') + 1),
            perimeter: f.staged.slice(0, f.staged.indexOf('/')),
          },
        }
      : {}),
    record: f.record,
    ...(f.localReply ? { localReply: { status: f.localReply.status, details: f.localReply.details } } : {}),
  };
}

/** `--header k=v` pairs (a name given twice is a header sent twice) into the request's lines. */
function headerLinesOf(kv: readonly (readonly [string, string])[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of kv) {
    const key = k.toLowerCase();
    out[key] = [...(out[key] ?? []), v];
  }
  return out;
}

/**
 * The request as Envoy handles it: its connection manager first (contracts/request-path.ts, as the
 * local sidecar does), then the engine decides what the filter would see.
 */
export function decide(
  target: CompiledWorkload,
  sent: PolicyRequest,
  engine: Engine = 'wasm',
): Pick<CheckOutcome, 'result' | 'nearest' | 'candidate' | 'rejected'> {
  const cm = connectionManagerPath(sent.path);
  if (!cm.ok) {
    const result: Decision = {
      decision: 'deny',
      enforced: true,
      mode: 'enforce',
      perimeter: target.policy.defaultPerimeter || MESH_PERIMETER,
      rule: UNSAFE_RULE,
      ruleIndex: -1,
      code: 'deny_unsafe_request',
      version: target.policy.version,
    };
    return { result, rejected: { status: cm.status, details: cm.details } };
  }
  const request = { ...sent, path: cm.path };
  const result = engine === 'wasm' ? decideWasm(target, request) : evaluate(target.policy, request);
  const staged = target.policy.candidate ? evaluate(target.policy.candidate, request) : undefined;
  const candidate = staged && {
    candidate: { decision: staged.decision, perimeter: staged.perimeter, rule: staged.rule, differs: staged.decision !== result.decision },
  };
  if (result.decision === 'allow' || result.code !== 'deny_default') return { result, ...candidate };
  const norm = normalizePath(request.path, pathParametersOf(target.policy));
  const nearest = norm.ok ? nearestAllow(target.policy, viewOf(request, norm.path), request.method) : undefined;
  return { result, ...(nearest ? { nearest } : {}), ...candidate };
}

export function runCheck(opts: CheckOptions): number {
  const engine = (opts.engine ?? 'wasm') as Engine;
  if (engine !== 'wasm' && engine !== 'reference') throw new UsageError(`unknown --engine ${opts.engine} (available: wasm, reference)`);
  const compiled = loadAndCompile([opts.policy]);
  if (opts.flows) return runFlows(compiled, opts.flows, Boolean(opts.json), engine);
  for (const f of ['to', 'from', 'method', 'path'] as const)
    if (!opts[f]) throw new UsageError(`--${f} is required (or give --flows FILE)`);
  const port = opts.port === undefined ? undefined : Number(opts.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536))
    throw new UsageError(`--port ${opts.port}: not a port number`);
  const claims: Record<string, unknown> = {};
  for (const [k, v] of pairs(opts.claim, '--claim')) claims[k] = v.includes(',') ? v.split(',') : v;
  const principal = callerIdentity(compiled, opts.from as string);
  const request: PolicyRequest = {
    ...(principal !== undefined ? { principal } : {}),
    method: opts.method as string,
    path: opts.path as string,
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(port !== undefined ? { port } : {}),
    headers: headerLinesOf(pairs(opts.header, '--header')),
    ...(opts.claim?.length ? { claims } : {}),
  };
  const target = findWorkload(compiled, opts.to as string);
  const outcome: CheckOutcome = {
    to: target.workload.name,
    from: opts.from as string,
    engine,
    request,
    ...decide(target, request, engine),
  };
  if (opts.json) process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
  else process.stdout.write(describe(outcome));
  return outcome.result.decision === 'allow' ? EXIT.ok : EXIT.deny;
}

export function describe(o: CheckOutcome): string {
  const r = o.result;
  const lines = [
    `${verdictText(r.decision, r.enforced)}  ${o.from} → ${o.to}  ${o.request.method} ${o.request.path}`,
    `  decided by  ${r.perimeter}/${r.rule}  (mode ${r.mode}, policy version ${r.version}, engine ${o.engine === 'wasm' ? 'perimeter.wasm' : 'reference'})`,
  ];
  const reply = (r as { localReply?: { status: number; details: string } }).localReply;
  if (reply) lines.push(`  Envoy replies ${reply.status}, response code details ${reply.details}`);
  if (o.rejected)
    lines.push(
      `  Envoy's connection manager replies ${o.rejected.status} (${o.rejected.details}) before any filter runs: the path cannot be forwarded as sent`,
    );
  if (r.decision === 'deny' && !r.enforced)
    lines.push(`  not blocked: the deciding ${r.rule === 'default' ? 'perimeter' : 'rule'} is in ${r.mode} mode`);
  if (r.code === 'deny_unsafe_request' && !o.rejected)
    lines.push('  why: the path (or authority) cannot be handled safely, so it is denied whatever the rules say');
  if (r.code === 'deny_default') lines.push('  why: no rule allows this request (default deny)');
  if (r.staged) lines.push(`  staged: ${r.staged.perimeter}/${r.staged.rule} would ${r.staged.decision} it once enforced`);
  if (r.audit) lines.push(`  audit: marked by rule ${r.audit}`);
  const c = o.candidate;
  if (c)
    lines.push(
      `  staged candidate: ${c.perimeter}/${c.rule} would ${c.decision} it${c.differs ? paint(' (differs from the live rules)', 'yellow') : ' (agrees)'}`,
    );
  if (o.nearest) {
    const n = o.nearest;
    lines.push(`  nearest rule: ${n.perimeter}/${n.rule}${n.matched.length ? ` matched ${n.matched.join(', ')}` : ''}, but`);
    for (const f of n.failed) lines.push(`    ${paint('✗', 'red')} ${f.attribute}: ${f.actual} is not ${f.expected}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface Flow {
  name: string;
  from: string;
  to: string;
  method: string;
  path: string;
  host?: string;
  port?: number;
  /** A list is a header sent once per element, in order. */
  headers?: Record<string, string | string[]>;
  claims?: Record<string, unknown>;
  expect?: 'allow' | 'deny' | 'would-deny';
}

export function readFlows(file: string): Flow[] {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  const flows = (doc as { flows?: unknown })?.flows;
  if (!Array.isArray(flows)) throw new UsageError(`${file}: expected a top-level "flows:" list`);
  return flows.map((f: Record<string, unknown>, i) => {
    for (const k of ['from', 'to', 'method', 'path'])
      if (typeof f?.[k] !== 'string') throw new UsageError(`${file}: flows[${i}].${k} must be a string`);
    if (f.expect !== undefined && !['allow', 'deny', 'would-deny'].includes(f.expect as string)) {
      throw new UsageError(`${file}: flows[${i}].expect must be allow, deny or would-deny`);
    }
    return { name: typeof f.name === 'string' ? f.name : `flow ${i + 1}`, ...f } as Flow;
  });
}

export function verdictOf(d: Decision): 'allow' | 'deny' | 'would-deny' {
  return d.decision === 'allow' ? 'allow' : d.enforced ? 'deny' : 'would-deny';
}

function runFlows(compiled: CompileResult, file: string, json: boolean, engine: Engine): number {
  const flows = readFlows(file);
  const results = flows.map((f) => {
    const principal = callerIdentity(compiled, f.from);
    const request: PolicyRequest = {
      ...(principal !== undefined ? { principal } : {}),
      method: f.method,
      path: f.path,
      ...(f.host ? { host: f.host } : {}),
      ...(f.port ? { port: f.port } : {}),
      headers: headerLinesOf(
        Object.entries(f.headers ?? {}).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => [k, String(x)] as const)),
      ),
      ...(f.claims ? { claims: f.claims } : {}),
    };
    const outcome = decide(findWorkload(compiled, f.to), request, engine);
    const got = verdictOf(outcome.result);
    return { flow: f, ...outcome, verdict: got, ok: f.expect === undefined || f.expect === got };
  });
  const failed = results.filter((r) => !r.ok).length;
  if (json) {
    process.stdout.write(`${JSON.stringify({ passed: results.length - failed, failed, flows: results }, null, 2)}\n`);
    return failed ? EXIT.expectation : EXIT.ok;
  }
  const rows = results.map((r) => {
    const why = r.nearest ? `nearest ${r.nearest.rule}: ${r.nearest.failed.map((x) => x.attribute).join(', ')}` : '';
    return [
      r.flow.name,
      `${r.flow.from} → ${r.flow.to}`,
      `${r.flow.method} ${r.flow.path}`,
      verdictText(r.result.decision, r.result.enforced),
      `${r.result.perimeter}/${r.result.rule}`,
      r.flow.expect === undefined ? '' : r.ok ? paint('✓', 'green') : paint(`✗ expected ${r.flow.expect}`, 'red'),
      paint(why, 'dim'),
    ];
  });
  process.stdout.write(`${table(['FLOW', 'CALLER → WORKLOAD', 'REQUEST', 'DECISION', 'DECIDED BY', 'EXPECT', 'WHY'], rows)}\n\n`);
  const expected = results.filter((r) => r.flow.expect !== undefined).length;
  process.stdout.write(`${results.length} flows, ${expected - failed}/${expected} as expected\n`);
  return failed ? EXIT.expectation : EXIT.ok;
}
