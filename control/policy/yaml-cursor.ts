/**
 * A read-only walk over one parsed YAML document that knows, for every value, its field
 * path and its source position, so parsers can report `file:line:col` and `rules[3].to`.
 * Type mismatches and unknown fields become diagnostics; the cursor never throws.
 */
import { isMap, isScalar, isSeq, type LineCounter, type Node, type Pair, type YAMLMap } from 'yaml';
import type { Diagnostic, Severity } from './diagnostics.js';
import type { Location } from './model.js';

export interface DocContext {
  file: string;
  lines: LineCounter;
  /** Resource label used as path prefix, e.g. `Perimeter/db`. Set once the name is known. */
  resource: string;
  diagnostics: Diagnostic[];
  /** Names and selectors that point into the registry, checked once every file is read. */
  references: Reference[];
  /** Istio fields we cannot honour drop what uses them (narrowing only) instead of refusing it. */
  skipUnsupported?: boolean;
}

/** A pointer into the workload registry, kept with its position for a later diagnostic. */
export interface Reference {
  kind: 'workload' | 'labels' | 'identity';
  workload?: string;
  labels?: Record<string, string>;
  identity?: string;
  /** Diagnostic skeleton: where it is written. */
  at: Omit<Diagnostic, 'severity' | 'message' | 'hint'>;
}

export class Cursor {
  constructor(
    readonly ctx: DocContext,
    readonly node: Node | null | undefined,
    readonly path: string,
    /** Position used when the node itself is absent (the parent's). */
    private readonly fallbackOffset = 0,
  ) {}

  get present(): boolean {
    return this.node !== null && this.node !== undefined && !(isScalar(this.node) && this.node.value === null);
  }

  get offset(): number {
    return this.node?.range?.[0] ?? this.fallbackOffset;
  }

  report(severity: Severity, message: string, hint?: string, offset = this.offset): void {
    const pos = this.ctx.lines.linePos(offset);
    this.ctx.diagnostics.push({
      severity,
      file: this.ctx.file,
      line: pos.line,
      column: pos.col,
      path: this.ctx.resource + (this.path ? `: ${this.path}` : ''),
      message,
      ...(hint ? { hint } : {}),
    });
  }

  /** Records that this value names something in the registry (checked after loading). */
  refer(ref: Omit<Reference, 'at'>): void {
    const pos = this.ctx.lines.linePos(this.offset);
    this.ctx.references.push({
      ...ref,
      at: { file: this.ctx.file, line: pos.line, column: pos.col, path: this.ctx.resource + (this.path ? `: ${this.path}` : '') },
    });
  }

  error(message: string, hint?: string): void {
    this.report('error', message, hint);
  }

  warn(message: string, hint?: string): void {
    this.report('warning', message, hint);
  }

  private child(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  private typeName(): string {
    const n = this.node;
    if (isMap(n)) return 'a mapping';
    if (isSeq(n)) return 'a list';
    if (isScalar(n)) return typeof n.value === 'string' ? 'a string' : `${typeof n.value} ${String(n.value)}`;
    return 'nothing';
  }

  /** The mapping's fields; reports unknown keys (with a did-you-mean) and wrong types. */
  fields(known: readonly string[]): Map<string, Cursor> | undefined {
    if (!this.present) return undefined;
    if (!isMap(this.node)) {
      this.error(`expected a mapping, got ${this.typeName()}`);
      return undefined;
    }
    const out = new Map<string, Cursor>();
    for (const pair of (this.node as YAMLMap).items as Pair<Node, Node>[]) {
      const keyNode = pair.key;
      const key = isScalar(keyNode) ? String(keyNode.value) : '';
      const at = new Cursor(this.ctx, pair.value, this.child(key), keyNode?.range?.[0] ?? this.offset);
      if (!known.includes(key)) {
        const near = nearest(key, known);
        at.report(
          'error',
          `unknown field "${key}"`,
          near ? `did you mean "${near}"?` : `known fields: ${known.join(', ')}`,
          keyNode?.range?.[0] ?? this.offset,
        );
        continue;
      }
      if (out.has(key)) {
        at.report('error', `field "${key}" is given twice`, undefined, keyNode?.range?.[0] ?? this.offset);
        continue;
      }
      out.set(key, at);
    }
    return out;
  }

  /** A string field's value without reporting anything (for labels in messages). */
  peek(key: string): string | undefined {
    if (!isMap(this.node)) return undefined;
    const v = (this.node as YAMLMap).get(key);
    return typeof v === 'string' ? v : undefined;
  }

  /** A mapping's raw entries, for maps with user-chosen keys (labels). */
  entries(): [string, Cursor][] {
    if (!this.present) return [];
    if (!isMap(this.node)) {
      this.error(`expected a mapping, got ${this.typeName()}`);
      return [];
    }
    return ((this.node as YAMLMap).items as Pair<Node, Node>[]).map((pair) => {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      return [key, new Cursor(this.ctx, pair.value, this.child(key), pair.key?.range?.[0] ?? this.offset)];
    });
  }

  /** List items; a scalar or mapping where a list is expected is reported. */
  items(): Cursor[] {
    if (!this.present) return [];
    if (!isSeq(this.node)) {
      this.error(`expected a list, got ${this.typeName()}`);
      return [];
    }
    return this.node.items.map((n, i) => new Cursor(this.ctx, n as Node, `${this.path}[${i}]`, this.offset));
  }

  isList(): boolean {
    return isSeq(this.node);
  }

  isMap(): boolean {
    return isMap(this.node);
  }

  string(): string | undefined {
    if (!this.present) return undefined;
    if (isScalar(this.node) && typeof this.node.value === 'string') return this.node.value;
    this.error(`expected a string, got ${this.typeName()}`);
    return undefined;
  }

  /** Strings, accepting a lone string where a list is expected (a common slip). */
  strings(): string[] {
    if (!this.present) return [];
    if (isScalar(this.node) && typeof this.node.value === 'string') {
      this.error(`expected a list, got a string`, `write [${this.node.value}] or a "- ${this.node.value}" item`);
      return [];
    }
    return this.items()
      .map((c) => c.string())
      .filter((s): s is string => s !== undefined);
  }

  bool(): boolean | undefined {
    if (!this.present) return undefined;
    if (isScalar(this.node) && typeof this.node.value === 'boolean') return this.node.value;
    this.error(`expected true or false, got ${this.typeName()}`);
    return undefined;
  }

  integer(min: number, max: number): number | undefined {
    if (!this.present) return undefined;
    const v = isScalar(this.node) ? this.node.value : undefined;
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max) return n;
    this.error(`expected an integer from ${min} to ${max}, got ${this.typeName()}`);
    return undefined;
  }

  /** A string or a date the YAML parser already turned into one. */
  timestamp(): number | undefined {
    if (!this.present) return undefined;
    const v = isScalar(this.node) ? this.node.value : undefined;
    const ms = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : Number.NaN;
    if (Number.isFinite(ms) && (typeof v !== 'string' || /\d{4}-\d{2}-\d{2}/.test(v))) return ms;
    this.error(`expected an RFC 3339 time such as 2026-12-31T18:00:00Z, got ${this.typeName()}`);
    return undefined;
  }

  oneOf<T extends string>(allowed: readonly T[]): T | undefined {
    const s = this.string();
    if (s === undefined) return undefined;
    if ((allowed as readonly string[]).includes(s)) return s as T;
    const near = nearest(s, allowed);
    this.error(`"${s}" is not one of ${allowed.join(', ')}`, near ? `did you mean "${near}"?` : undefined);
    return undefined;
  }
}

/** The closest known word within a small edit distance, for did-you-mean hints. */
export function nearest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestDist) {
      best = k;
      bestDist = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] as number;
}

/** Where a cursor's value is in its file. */
export function location(c: Cursor): Location {
  const pos = c.ctx.lines.linePos(c.offset);
  return { file: c.ctx.file, line: pos.line, column: pos.col };
}
