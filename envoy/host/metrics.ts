/**
 * Metrics as Envoy keeps them for a Wasm VM: ids carry the type in their low 2 bits and step
 * by 4 (first counter 4, gauge 5, histogram 6); names get the `wasmcustom.` prefix that
 * /stats strips. Defining a name twice returns the same metric.
 */
import { MetricType, WasmResult } from './enums.js';

export interface Metric {
  id: number;
  type: number;
  name: string;
  value: bigint;
  /** Histogram samples (bounded). */
  samples?: bigint[];
}

export class Metrics {
  private next = 0;
  private readonly byId = new Map<number, Metric>();
  private readonly byName = new Map<string, Metric>();

  define(type: number, name: string): Metric | undefined {
    if (type > MetricType.Histogram) return undefined;
    const key = `${type}:${name}`;
    const existing = this.byName.get(key);
    if (existing) return existing;
    this.next += 4;
    const m: Metric = { id: this.next + type, type, name, value: 0n, ...(type === MetricType.Histogram ? { samples: [] } : {}) };
    this.byId.set(m.id, m);
    this.byName.set(key, m);
    return m;
  }

  increment(id: number, delta: bigint): number {
    const m = this.byId.get(id);
    if (!m) return WasmResult.NotFound;
    if (m.type === MetricType.Counter) {
      if (delta <= 0n) return WasmResult.BadArgument;
      m.value += delta;
    } else if (m.type === MetricType.Gauge) {
      m.value += delta;
    } else return WasmResult.BadArgument;
    return WasmResult.Ok;
  }

  record(id: number, value: bigint): number {
    const m = this.byId.get(id);
    if (!m) return WasmResult.NotFound;
    if (m.type === MetricType.Counter) m.value += value;
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

  /** Value of a metric by the name the module gave it (without the wasmcustom. prefix). */
  value(name: string): bigint | undefined {
    for (const m of this.byId.values()) if (m.name === name) return m.value;
    return undefined;
  }

  all(): Metric[] {
    return [...this.byId.values()];
  }

  /** Prometheus text, as Envoy's /stats/prometheus renders custom Wasm stats. */
  prometheus(): string {
    const lines: string[] = [];
    for (const m of this.byId.values()) {
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
