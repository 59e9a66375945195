/**
 * Metrics as Envoy keeps them for a Wasm VM: ids carry the type in their low 2 bits and step
 * by 4 within their type (first counter 4, gauge 5, histogram 6; the next counter 8); names
 * get the `wasmcustom.` prefix that /stats strips. Defining a name again returns a new id of
 * the same type for the same stat, as Envoy's `Context::defineMetric` does (the stat is found
 * by name in the scope; the id counter moves on every call).
 */
import { MetricType, WasmResult } from './enums.js';

/**
 * One stat. Its value is a u64 (i64 for gauges) as in Envoy; it is kept as a JavaScript number
 * while that is exact, because adding BigInts makes a new one on every increment of every request.
 */
export class Metric {
  private small = 0;
  private big = 0n;
  /** Histogram samples (bounded). */
  readonly samples: bigint[] | undefined;

  constructor(
    readonly type: number,
    readonly name: string,
  ) {
    this.samples = type === MetricType.Histogram ? [] : undefined;
  }

  get value(): bigint {
    return this.big === 0n ? BigInt(this.small) : this.big + BigInt(this.small);
  }

  set value(v: bigint) {
    this.big = v;
    this.small = 0;
  }

  /** Adds `delta`; `d` is Number(delta), exact for every delta the number part takes (BigInt comparisons cost a runtime call each). */
  add(delta: bigint, d: number): void {
    const next = this.small + d;
    if (d >= -MAX_SMALL_DELTA && d <= MAX_SMALL_DELTA && Math.abs(next) <= SMALL_LIMIT) this.small = next;
    else {
      this.big += BigInt(this.small) + delta;
      this.small = 0;
    }
  }
}

/** The number part stays far inside 2^53, and deltas beyond this go to the BigInt part whole. */
const SMALL_LIMIT = 2 ** 52;
const MAX_SMALL_DELTA = 2 ** 32;

/** The host's stats, by type and name: shared by every VM of the host (Envoy's stats scope). */
export class Metrics {
  private readonly byName = new Map<string, Metric>();

  /** The stat `name` of `type`, made on first use. */
  stat(type: number, name: string): Metric {
    const key = `${type}:${name}`;
    const found = this.byName.get(key);
    if (found) return found;
    const m = new Metric(type, name);
    this.byName.set(key, m);
    return m;
  }

  /** A new VM's table of metric ids over these stats. */
  forVm(): VmMetrics {
    return new VmMetrics(this);
  }

  /** Value of a metric by the name the module gave it (without the wasmcustom. prefix). */
  value(name: string): bigint | undefined {
    for (const m of this.byName.values()) if (m.name === name) return m.value;
    return undefined;
  }

  all(): Metric[] {
    return [...this.byName.values()];
  }

  /** Prometheus text, as Envoy's /stats/prometheus renders custom Wasm stats. */
  prometheus(): string {
    const lines: string[] = [];
    for (const m of this.byName.values()) {
      const name = `envoy_${m.name.replace(/[^a-zA-Z0-9_]/g, '_')}`;
      const type = m.type === MetricType.Counter ? 'counter' : m.type === MetricType.Gauge ? 'gauge' : 'histogram';
      lines.push(`# TYPE ${name} ${type}`);
      if (m.type === MetricType.Histogram) {
        const s = m.samples ?? [];
        lines.push(`${name}_count ${s.length}`, `${name}_sum ${s.reduce((a, b) => a + b, 0n)}`);
      } else lines.push(`${name} ${m.value}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

/**
 * One VM's metric ids (Envoy keeps them in the Wasm object: next_counter_metric_id_ and its
 * siblings), each naming a stat of the host's store.
 */
export class VmMetrics {
  /** The last id given per type, starting at the type itself. */
  private readonly last: number[] = [MetricType.Counter, MetricType.Gauge, MetricType.Histogram];
  private readonly byId = new Map<number, Metric>();

  constructor(private readonly store: Metrics) {}

  /** A new id for the stat; undefined for a type past Histogram. */
  define(type: number, name: string): number | undefined {
    if (type > MetricType.Histogram) return undefined;
    const id = ((this.last[type] as number) + 4) >>> 0;
    this.last[type] = id;
    this.byId.set(id, this.store.stat(type, name));
    return id;
  }

  increment(id: number, delta: bigint): number {
    const m = this.byId.get(id);
    if (!m) return WasmResult.NotFound;
    // Number keeps the sign of a BigInt, so the test of a counter's delta needs no BigInt compare.
    const d = Number(delta);
    if (m.type === MetricType.Counter) {
      if (d <= 0) return WasmResult.BadArgument;
      m.add(delta, d);
    } else if (m.type === MetricType.Gauge) {
      m.add(delta, d);
    } else return WasmResult.BadArgument;
    return WasmResult.Ok;
  }

  record(id: number, value: bigint): number {
    const m = this.byId.get(id);
    if (!m) return WasmResult.NotFound;
    if (m.type === MetricType.Counter) m.add(value, Number(value));
    else if (m.type === MetricType.Gauge) m.value = value;
    else {
      m.value = value;
      if ((m.samples as bigint[]).length < 10_000) m.samples?.push(value);
    }
    return WasmResult.Ok;
  }

  get(id: number): { status: number; value?: bigint } {
    const m = this.byId.get(id);
    if (!m) return { status: WasmResult.NotFound };
    if (m.type === MetricType.Histogram) return { status: WasmResult.BadArgument };
    return { status: WasmResult.Ok, value: m.value };
  }
}
