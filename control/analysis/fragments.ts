/**
 * The literal pieces a policy's matchers are made of, and the candidate values built from them:
 * for each attribute, enough values that every combination of matcher outcomes that any value
 * can produce is produced by one of them (docs/analysis.md argues it per matcher kind, and a
 * randomized test holds it against brute force).
 *
 * The construction for the plain kinds: a value's outcome over exact, prefix, suffix and
 * contains matchers is fixed by the longest prefix value it starts with (p), the longest suffix
 * value it ends with (q) and the contains values it holds (c); `p + F + c + F + q`, with F a
 * character that no value has, has the same outcome, as does each exact value itself.
 */
import type { StringMatch as PStringMatch } from '../../proto/gen/perimeter/v1/policy.js';
import { StringMatch_Kind as K } from '../../proto/gen/perimeter/v1/policy.js';

export class Fragments {
  readonly exact = new Set<string>();
  readonly prefix = new Set<string>();
  readonly suffix = new Set<string>();
  readonly contains = new Set<string>();
  /** Envoy uri_templates (contracts/path-template.ts). */
  readonly templates = new Set<string>();
  /** Istio `<ns>/<sa>`, trust-domain and namespace patterns (principals only). */
  readonly serviceAccounts = new Set<string>();
  readonly trustDomains = new Set<string>();
  readonly namespacePatterns = new Set<string>();
  ignoreCase = false;

  add(ms: readonly PStringMatch[]): void {
    for (const m of ms) {
      if (m.ignoreCase) this.ignoreCase = true;
      switch (m.kind) {
        case K.KIND_EXACT:
          this.exact.add(m.value);
          break;
        case K.KIND_PREFIX:
          this.prefix.add(m.value);
          break;
        case K.KIND_SUFFIX:
          this.suffix.add(m.value);
          break;
        case K.KIND_CONTAINS:
          this.contains.add(m.value);
          break;
        case K.KIND_SEGMENT_PREFIX:
          this.exact.add(m.value);
          this.prefix.add(`${m.value}/`);
          break;
        case K.KIND_TEMPLATE:
          this.templates.add(m.value);
          break;
        case K.KIND_SERVICE_ACCOUNT:
          this.serviceAccounts.add(m.value);
          break;
        case K.KIND_TRUST_DOMAIN:
          this.trustDomains.add(m.value);
          break;
        case K.KIND_NAMESPACE_PATTERN:
          this.namespacePatterns.add(m.value);
          break;
        default:
          // PRESENT needs no literal: any non-empty candidate shows it.
          break;
      }
    }
  }

  /** Another set of the same literals, to add to without changing these. */
  copy(): Fragments {
    const c = new Fragments();
    for (const k of ['exact', 'prefix', 'suffix', 'contains', 'templates', 'serviceAccounts', 'trustDomains', 'namespacePatterns'] as const)
      for (const v of this[k]) c[k].add(v);
    c.ignoreCase = this.ignoreCase;
    return c;
  }

  /** Every literal, for choosing a fresh character. */
  *literals(): Iterable<string> {
    for (const s of [
      this.exact,
      this.prefix,
      this.suffix,
      this.contains,
      this.templates,
      this.serviceAccounts,
      this.trustDomains,
      this.namespacePatterns,
    ])
      yield* s;
  }
}

/** A character in none of the literals (x when it can be: counterexamples read better). */
export function freshChar(f: Fragments): string {
  const used = new Set<string>();
  for (const v of f.literals()) for (const ch of v.toLowerCase()) used.add(ch);
  for (const c of 'xqzjkvwy0123456789') if (!used.has(c)) return c;
  // Every candidate letter and digit is used somewhere: a long enough run of x is still outside
  // every contains value, which is all the construction needs of it.
  return 'x'.repeat(Math.max(...[...f.literals()].map((v) => v.length), 0) + 1);
}

/** Values with every outcome over the plain kinds (the construction above), each once, first seen first. */
export function textCandidates(f: Fragments, fresh: string): string[] {
  const out = new Set<string>(['', ...f.exact]);
  const ps = ['', ...f.prefix];
  const cs = ['', ...f.contains];
  const qs = ['', ...f.suffix];
  for (const p of ps)
    for (const c of cs)
      for (const q of qs) {
        out.add(c ? `${p}${fresh}${c}${fresh}${q}` : `${p}${fresh}${q}`);
        // The value may be nothing more than its prefix, contains and suffix values.
        if (p || c || q) out.add(`${p}${c}${q}`);
      }
  // Two contains values at once (a value may hold several; more at once is left to the proof's
  // general form, which no policy of ours has needed).
  for (const a of f.contains) for (const b of f.contains) if (a !== b) out.add(`${fresh}${a}${fresh}${b}${fresh}`);
  for (const t of f.templates) for (const v of templateInstances(t, fresh, f)) out.add(v);
  // A template reads only path characters in its segments: the same values with one that is not.
  if (f.templates.size > 0) for (const v of [...out]) if (v.includes(fresh)) out.add(v.replaceAll(fresh, `${fresh}=`));
  return [...out];
}

/**
 * Paths a template matches: each `*` one segment (fresh, or a segment some literal has, so
 * that prefixes and exacts through the template are reached), `**` nothing, one or two
 * segments. Bounded: at most 64 per template.
 */
function templateInstances(template: string, fresh: string, f: Fragments): string[] {
  const segments = new Set<string>([fresh]);
  for (const v of f.literals()) for (const s of v.split('/')) if (s && !s.includes('*')) segments.add(s);
  // A segment may also run on past a literal (a prefix that ends inside it).
  const choices = [...[...segments].slice(0, 8), ...[...segments].slice(1, 8).map((seg) => `${seg}${fresh}`)];
  // `**` may also stand for a literal path and more (a prefix, an exact value, below it).
  const deep = [...f.prefix, ...f.exact]
    .filter((v) => v.startsWith('/') && v.length > 1)
    .flatMap((v) => [v.slice(1), `${v.slice(1)}${v.endsWith('/') ? '' : '/'}${fresh}`])
    .slice(0, 16);
  let partial = [''];
  for (const seg of template.slice(1).split('/')) {
    const options = seg === '*' ? choices : seg === '**' ? ['', fresh, `${fresh}/${fresh}`, ...choices, ...deep] : [seg];
    const next: string[] = [];
    for (const p of partial) for (const o of options) next.push(`${p}/${o}`);
    partial = next.slice(0, 64);
  }
  // `**` as nothing leaves "/a/" where the template reads "/a/**": both forms are paths.
  return partial.flatMap((p) => (p.endsWith('/') && p.length > 1 ? [p, p.slice(0, -1)] : [p]));
}
