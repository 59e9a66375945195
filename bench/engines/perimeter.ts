/**
 * Our three engines on one compiled policy: the pure in-Wasm decision (perimeter-bench.wasm:
 * the filter's decoder and decision code without host imports), the whole
 * `proxy_on_request_headers` of perimeter.wasm through envoy/host, and the TypeScript
 * reference evaluator.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESOURCE_NAME } from '../../contracts/ecds.js';
import { methodBits } from '../../contracts/methods.js';
import type { PolicyRequest } from '../../contracts/request.js';
import type { CompiledWorkload } from '../../control/compile/compile.js';
import { evaluate } from '../../control/eval/evaluate.js';
import { FilterRunner, toEnvoy } from '../../envoy/filter-runner.js';
import { HeaderMap, type Plugin, type StreamInfo } from '../../envoy/host/host.js';
import type { Engine, Verdict } from './engine.js';

// Built by npm run build beside the benchmarks, not in filter/build: it is not a module for Envoy.
const BENCH_WASM = join(import.meta.dirname, '..', 'build', 'perimeter-bench.wasm');

interface BenchExports {
  memory: WebAssembly.Memory;
  malloc(n: number): number;
  bench_load(p: number, n: number): number;
  bench_request(pp: number, pl: number, m: number, path: number, pathLen: number, h: number, hl: number): number;
  bench_decide(n: number): number;
  _initialize(): void;
}

export interface WasmRequest {
  args: [number, number, number, number, number, number, number];
}

export class WasmDecisionEngine implements Engine<WasmRequest> {
  private readonly e: BenchExports;

  constructor(policy: Uint8Array) {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(BENCH_WASM)), { env: { proxy_log: () => 0 } });
    this.e = inst.exports as unknown as BenchExports;
    this.e._initialize();
    if (this.e.bench_load(this.put(policy), policy.length) !== 1) throw new Error('perimeter-bench.wasm refused the policy');
  }

  private put(bytes: Uint8Array): number {
    const p = this.e.malloc(bytes.length || 1);
    new Uint8Array(this.e.memory.buffer).set(bytes, p);
    return p;
  }

  private str(s: string | undefined): [number, number] {
    if (s === undefined) return [0, -1];
    const b = Buffer.from(s);
    return [this.put(b), b.length];
  }

  prepare(req: PolicyRequest): WasmRequest {
    const [pp, pl] = this.str(req.principal);
    const [ap, al] = this.str(req.path);
    const [hp, hl] = this.str(req.host ?? '');
    return { args: [pp, pl, methodBits(req.method, []), ap, al, hp, hl] };
  }

  /** `n` decisions in one call into Wasm: the call's own cost is spread over them. */
  decideMany(r: WasmRequest, n: number): Verdict {
    this.e.bench_request(...r.args);
    return this.e.bench_decide(n) & 1 ? 'allow' : 'deny';
  }

  decide(r: WasmRequest): Verdict {
    return this.decideMany(r, 1);
  }
}

export interface HostRequest {
  info: StreamInfo;
  /** In the host's own form, made once as Envoy's codec makes its header map once per request. */
  headers: HeaderMap;
}

export class HostEngine implements Engine<HostRequest> {
  readonly runner = new FilterRunner();
  readonly plugin: Plugin;
  /** Time to apply the policy: a new root context, configure (decode + tables). */
  readonly applyMs: number;

  constructor(policy: Uint8Array) {
    const t0 = performance.now();
    this.plugin = this.runner.host.configure({ name: RESOURCE_NAME, rootId: 'perimeter', configuration: policy, canary: false });
    this.applyMs = performance.now() - t0;
  }

  prepare(req: PolicyRequest): HostRequest {
    const { info, headers } = toEnvoy(req);
    const map = HeaderMap.of(headers);
    map.pairs(); // the codec's work, done once per request as Envoy's builds its header map
    return { info, headers: map };
  }

  decide(r: HostRequest): Verdict {
    const s = this.plugin.newStream(r.info);
    const out = s.onRequestHeaders(r.headers, true);
    const verdict = out.localReply ? 'deny' : 'allow';
    s.release();
    return verdict;
  }

  /** Host calls the module makes for one request. */
  hostCalls(r: HostRequest): number {
    const before = this.runner.host.vm.hostCalls;
    this.decide(r);
    return this.runner.host.vm.hostCalls - before;
  }

  close(): void {
    this.plugin.retire();
  }
}

export class ReferenceEngine implements Engine<PolicyRequest> {
  constructor(private readonly w: CompiledWorkload) {}
  prepare(req: PolicyRequest): PolicyRequest {
    return req;
  }
  decide(req: PolicyRequest): Verdict {
    const d = evaluate(this.w.policy, req);
    return d.decision === 'deny' && d.enforced ? 'deny' : 'allow';
  }
}
