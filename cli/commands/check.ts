/**
 * `perimeter check`: what the policy decides for one request (or a file of flows), which rule
 * decided, and for a deny the nearest allow rule and the attribute that failed
 * (control/eval/check.ts decides; this file reads the flags and prints).
 * Exit codes: 0 allow, 3 deny (enforced or not), 1 usage or input error; with --flows,
 * 0 when every expectation holds and 4 when one does not.
 */

import { outcomeOf } from '../../contracts/decision-record.js';
import type { PolicyRequest } from '../../contracts/request.js';
import type { CompiledWorkload, CompileResult } from '../../control/compile/compile.js';
import { type Checked, checkRequest, type FilterEngine } from '../../control/eval/check.js';
import { FilterRunner } from '../../envoy/filter-runner.js';
import { defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { readFlows } from '../support/flows-file.js';
import { loadAndCompile } from '../support/load-policy.js';
import { paint, table, verdictText } from '../support/output.js';
import { callerIdentity, findWorkload, UsageError } from '../support/targets.js';

export const EXIT = { ok: 0, input: 1, deny: 3, expectation: 4 } as const;

const FLAGS = {
  policy: flag.required('--policy <dir>', 'policy directory'),
  to: flag.string('--to <workload>', 'destination workload name or SPIFFE ID'),
  from: flag.string('--from <caller>', 'caller: SPIFFE ID, workload name or "unauthenticated"'),
  method: flag.string('--method <method>', 'HTTP method'),
  path: flag.string('--path <path>', 'request path (as sent, query included)'),
  host: flag.string('--host <host>', ':authority'),
  port: flag.string('--port <port>', 'destination port'),
  header: flag.list('--header <k=v>', 'request header (repeatable)'),
  claim: flag.list('--claim <k=v>', 'verified JWT claim; a,b,c for a list (repeatable)'),
  flows: flag.string('--flows <file>', 'check every flow in a YAML file (exit 4 if one is not as expected)'),
  engine: flag.withDefault(
    '--engine <engine>',
    'perimeter.wasm in the Envoy-faithful host, or the TypeScript reference evaluator',
    'wasm',
    ['wasm', 'reference'],
  ),
  json: flag.bool('--json', 'machine-readable output'),
};

export const checkCommand = defineCommand({
  path: ['check'],
  description: 'decide one request (or a file of flows) and explain the decision; exit 0 allow, 3 deny',
  flags: FLAGS,
  run: runCheck,
});

export type Engine = 'wasm' | 'reference';

export interface CheckOutcome extends Checked {
  to: string;
  from: string;
  engine: Engine;
  request: PolicyRequest;
}

function pairs(list: readonly string[] | undefined, flag: string): [string, string][] {
  return (list ?? []).map((kv) => {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag} ${kv}: expected key=value`);
    return [kv.slice(0, eq), kv.slice(eq + 1)];
  });
}

let runner: FilterRunner | undefined;

/** perimeter.wasm in the Envoy-faithful host, started on first use. */
const wasm: FilterEngine = (policy, request) => {
  runner ??= new FilterRunner();
  return runner.decide(policy, request);
};

function decide(target: CompiledWorkload, request: PolicyRequest, engine: Engine): Checked {
  return checkRequest(target, request, engine === 'wasm' ? wasm : undefined);
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

function runCheck(opts: OptionsOf<typeof FLAGS>): number {
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
    const got = outcomeOf(outcome.result);
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
