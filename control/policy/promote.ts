/**
 * Promotion between a perimeter's versions, as an edit of its YAML source (the policy
 * directory stays the one source of truth, reviewable and versioned like any other change):
 *  - promote: the staged `candidate` becomes the rules (and its mode the perimeter's); the
 *    rules it replaced are kept as `previous`;
 *  - rollback: `previous` comes back, and the rules it replaces are staged again as the
 *    candidate, so the filter keeps showing where they would differ.
 * Comments and formatting elsewhere in the file are kept. Pure: text in, text or error out.
 */
import { isMap, isSeq, parseAllDocuments, type YAMLMap } from 'yaml';

export type Direction = 'promote' | 'rollback';

export type PromoteResult =
  | { ok: true; text: string; fromMode: string; toMode: string; added: string[]; removed: string[]; kept: string[] }
  | { ok: false; error: string };

const names = (rules: unknown): string[] =>
  isSeq(rules) ? rules.items.map((r) => (isMap(r) ? String(r.get('name') ?? '') : '')).filter(Boolean) : [];

export function promoteText(text: string, perimeter: string, direction: Direction): PromoteResult {
  const docs = parseAllDocuments(text);
  for (const d of docs) if (d.errors.length) return { ok: false, error: `not valid YAML: ${d.errors[0]?.message}` };
  const doc = docs.find((d) => d.get('kind') === 'Perimeter' && d.getIn(['metadata', 'name']) === perimeter);
  if (!doc) return { ok: false, error: `no Perimeter named "${perimeter}" in this file` };
  const spec = doc.get('spec', true);
  if (!isMap(spec)) return { ok: false, error: `Perimeter/${perimeter}: spec is not a map` };
  const from = direction === 'promote' ? 'candidate' : 'previous';
  const to = direction === 'promote' ? 'previous' : 'candidate';
  const source = spec.get(from, true);
  if (!isMap(source))
    return {
      ok: false,
      error:
        direction === 'promote'
          ? `Perimeter/${perimeter} has no candidate to promote (stage one under spec.candidate: {mode, rules})`
          : `Perimeter/${perimeter} has no previous version to roll back to (nothing was promoted)`,
    };
  const liveMode = String(spec.get('mode') ?? 'enforce');
  const liveRules = spec.get('rules', true);
  const nextMode = String(source.get('mode') ?? liveMode);
  const nextRules = source.get('rules', true);
  if (!isSeq(nextRules)) return { ok: false, error: `Perimeter/${perimeter}: spec.${from}.rules is not a list` };

  const before = names(liveRules);
  const after = names(nextRules);
  const kept = doc.createNode({ mode: liveMode }) as YAMLMap;
  kept.set('rules', liveRules ?? doc.createNode([]));
  spec.set('mode', nextMode);
  spec.set('rules', nextRules);
  spec.delete(from);
  spec.set(to, kept);
  return {
    ok: true,
    text: docs.map((d) => d.toString({ lineWidth: 0, flowCollectionPadding: false })).join(''),
    fromMode: liveMode,
    toMode: nextMode,
    added: after.filter((n) => !before.includes(n)),
    removed: before.filter((n) => !after.includes(n)),
    kept: after.filter((n) => before.includes(n)),
  };
}
