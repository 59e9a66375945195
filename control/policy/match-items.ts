/**
 * Matcher objects: where a native list takes a name or a pattern, an item may instead be a
 * literal matcher, `{exact: v}`, `{prefix: v}`, `{suffix: v}`, `{contains: v}`, `{present: true}`,
 * `{template: "/a/{*}"}`, `{serviceAccount: ns/sa}`, `{trustDomain: "td*"}` or `{namespace: "team-*"}`, with the meaning
 * contracts/string-match.ts gives it. They say what imported Istio policies say (`perimeter
 * import istio` writes them) and are never rewritten: no normalising, no trust-domain aliases.
 */
import { templateFromIstio } from '../../contracts/path-template.js';
import { hasControl } from '../../contracts/text.js';
import type { StringMatch } from './model.js';
import { parseServiceAccountPattern, parseTrustDomainPattern } from './patterns.js';
import type { Cursor } from './yaml-cursor.js';

export const MATCHER_KEYS = [
  'exact',
  'prefix',
  'suffix',
  'contains',
  'present',
  'template',
  'serviceAccount',
  'trustDomain',
  'namespace',
] as const;
export type MatcherKey = (typeof MATCHER_KEYS)[number];

const KIND: Record<MatcherKey, StringMatch['kind']> = {
  exact: 'exact',
  prefix: 'prefix',
  suffix: 'suffix',
  contains: 'contains',
  present: 'present',
  template: 'template',
  serviceAccount: 'service-account',
  trustDomain: 'trust-domain',
  namespace: 'namespace-pattern',
};

/** The object key a matcher is written with (the inverse of KIND). */
export const KEY_OF: Partial<Record<StringMatch['kind'], MatcherKey>> = Object.fromEntries(
  Object.entries(KIND).map(([k, v]) => [v, k as MatcherKey]),
);

/** One matcher object among the kinds `allowed`, or undefined (with an error) when it is not one. */
export function matcherObject(c: Cursor, allowed: readonly MatcherKey[]): StringMatch | undefined {
  const f = c.fields([...allowed]);
  if (!f) return undefined;
  const keys = [...f.keys()];
  if (keys.length !== 1) {
    c.error(`a matcher has exactly one of ${allowed.join(', ')}`, 'for example {prefix: "/api/v"}');
    return undefined;
  }
  const key = keys[0] as MatcherKey;
  const vc = f.get(key) as Cursor;
  if (key === 'present') {
    if (vc.bool() !== true) vc.error('present takes true');
    return { kind: 'present', value: '' };
  }
  const value = vc.string();
  if (value === undefined) return undefined;
  if (value === '' || hasControl(value)) {
    vc.error(value === '' ? 'an empty matcher value' : 'a control character in a matcher value', 'write {present: true} for any value');
    return undefined;
  }
  if (key === 'template') {
    const t = templateFromIstio(value);
    if (!t.ok) {
      vc.error(`"${value}" is not a path template: ${t.problems[0]?.message}`, t.problems[0]?.hint);
      return undefined;
    }
    return { kind: 'template', value: t.value };
  }
  const checked =
    key === 'serviceAccount' ? parseServiceAccountPattern(value) : key === 'trustDomain' ? parseTrustDomainPattern(value) : undefined;
  if (checked && !checked.ok) {
    vc.error(checked.problems[0]?.message ?? '', checked.problems[0]?.hint);
    return undefined;
  }
  return { kind: KIND[key], value, literal: true };
}

/**
 * The items of a list: strings read by `text` (the list's own forms), mappings as matcher
 * objects of the kinds `allowed`.
 */
export function matchItems(
  c: Cursor | undefined,
  allowed: readonly MatcherKey[],
  text: (s: string, at: Cursor) => StringMatch | undefined,
): StringMatch[] {
  const out: StringMatch[] = [];
  if (!c?.present) return out;
  if (!c.isList()) {
    c.error('expected a list', 'write [a, b] or "- a" items');
    return out;
  }
  for (const item of c.items()) {
    if (item.isMap()) {
      const m = matcherObject(item, allowed);
      if (m) out.push(m);
      continue;
    }
    const s = item.string();
    if (s === undefined) continue;
    const m = text(s, item);
    if (m) out.push(m);
  }
  return out;
}
