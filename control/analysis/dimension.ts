/**
 * One attribute of a request, split into classes: the predicates ("parts") that rules and
 * questions ask of it are registered first, candidate values are generated from the literals
 * they name, and every distinct vector of part outcomes over the candidates is one class, with
 * the first candidate that showed it as its representative. A part is then the set of classes
 * where it holds (a bitset), and a request region is a product of such sets (cubes.ts).
 */

export type Part<W> = (w: W) => boolean;

/**
 * `V` is a value of the attribute; `W` what the parts read of it (the evaluator's view of a
 * request carrying it), made once per candidate.
 */
export class Dimension<V, W = V> {
  private readonly parts: Part<W>[] = [];
  /** Class representatives, after build(). */
  classes: V[] = [];
  /** For each part, the classes where it holds. */
  private sets: bigint[] = [];
  /** Every class. */
  all = 0n;
  private byVector = new Map<string, number>();

  constructor(
    readonly name: string,
    /** Identifies a candidate (duplicates are skipped). */
    private readonly keyOf: (v: V) => string,
    private readonly lift: (v: V) => W,
  ) {}

  part(p: Part<W>): number {
    return this.parts.push(p) - 1;
  }

  get partCount(): number {
    return this.parts.length;
  }

  /** Splits the candidates into classes. A dimension no part reads is one class: its first candidate. */
  build(candidates: Iterable<V>, limit: number): void {
    const byVector = new Map<string, number>();
    this.byVector = byVector;
    const seen = new Set<string>();
    const sets = this.parts.map(() => 0n);
    this.classes = [];
    let tried = 0;
    for (const v of candidates) {
      const key = this.keyOf(v);
      if (seen.has(key)) continue;
      seen.add(key);
      if (++tried > limit) throw new AnalysisLimit(`${this.name}: more than ${limit} candidate values`);
      const vector = this.vectorOf(v);
      if (byVector.has(vector)) continue;
      const i = this.classes.length;
      byVector.set(vector, i);
      this.classes.push(v);
      const bit = 1n << BigInt(i);
      for (let k = 0; k < vector.length; k++) if (vector.charCodeAt(k) === 0x31) sets[k] = (sets[k] as bigint) | bit;
      if (this.parts.length === 0) break;
    }
    this.sets = sets;
    this.all = (1n << BigInt(this.classes.length)) - 1n;
  }

  /**
   * The class of any value, or undefined when no candidate showed its outcome: a value the
   * construction missed (the randomized test looks for them; there should be none).
   */
  classOf(v: V): number | undefined {
    return this.byVector.get(this.vectorOf(v));
  }

  private vectorOf(v: V): string {
    const w = this.lift(v);
    let vector = '';
    for (const p of this.parts) vector += p(w) ? '1' : '0';
    return vector;
  }

  setOf(part: number): bigint {
    return this.sets[part] as bigint;
  }
}

/** A question too large to answer exactly within the analysis's bounds: said, never approximated. */
export class AnalysisLimit extends Error {
  override name = 'AnalysisLimit';
}

/** A dimension whatever its values: what cubes and terms need of it. */
export interface AnyDimension {
  readonly name: string;
  readonly all: bigint;
  readonly classes: readonly unknown[];
  setOf(part: number): bigint;
}
