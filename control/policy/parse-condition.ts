/** `when:` conditions of a rule: a header or a verified JWT claim, tested one way each. */
import { claimKey, claimPathProblem } from '../../contracts/claim-path.js';
import { headerOperandProblem } from '../../contracts/header-value.js';
import { matchItems } from './match-items.js';
import type { Action, Condition, StringMatch } from './model.js';
import { identity, parseSetBy } from './parse-source.js';
import type { Cursor } from './yaml-cursor.js';

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

const VALUE_OBJECTS = ['exact', 'prefix', 'suffix', 'contains', 'present'] as const;

/** `claim: groups`, or a list for a nested claim: `claim: [realm_access, roles]`. */
function claimOf(c: Cursor | undefined): string | undefined {
  if (!c?.present) return undefined;
  const segments = c.isList() ? c.strings() : [c.string()].filter((s): s is string => s !== undefined);
  if (segments.length === 0) return undefined;
  const problem = claimPathProblem(segments);
  if (problem) {
    c.error(problem, 'a nested claim is a list of names: [realm_access, roles]');
    return undefined;
  }
  return claimKey(segments);
}
const IDENTITY_OBJECTS = [...VALUE_OBJECTS, 'serviceAccount', 'trustDomain'] as const;

/**
 * The general form `{header|claim: name, values: [...], notValues: [...]}` or
 * `{attribute: identity|port, values, notValues}` (what imported Istio conditions say): holds when
 * some value matches (if any are given) and no notValue does.
 */
function listCondition(c: Cursor, f: Map<string, Cursor>, action: Action | undefined): Condition | undefined {
  const header = f.get('header')?.string();
  const claim = claimOf(f.get('claim'));
  const attribute = f.get('attribute')?.oneOf(['identity', 'port'] as const);
  if ([header, claim, attribute].filter((x) => x !== undefined).length !== 1) {
    c.error('a condition names exactly one of header, claim or attribute', 'for example {header: x-tenant, values: [acme]}');
    return undefined;
  }
  if (f.has('setBy') && action !== 'allow') f.get('setBy')?.error(`setBy in a ${action} rule`, 'a deny must match whoever sends it');
  const exact = (s: string): StringMatch => ({ kind: 'exact', value: s });
  const read = (k: string): StringMatch[] => {
    const lc = f.get(k);
    if (attribute === 'port')
      return (lc?.items() ?? []).flatMap((pc) => {
        const n = pc.integer(1, 65535);
        return n === undefined ? [] : [exact(String(n))];
      });
    if (attribute === 'identity') return matchItems(lc, IDENTITY_OBJECTS, identity);
    return matchItems(lc, VALUE_OBJECTS, (s, at) => {
      const problem = header !== undefined ? headerOperandProblem(s) : undefined;
      if (problem) at.error(`"${s}": ${problem}`, 'a header sent as "a, b" is tested as "a, b", "a" and "b" (docs/semantics.md)');
      return problem ? undefined : exact(s);
    });
  };
  const values = read('values');
  const notValues = read('notValues');
  if (values.length + notValues.length === 0) {
    c.error('a condition needs values or notValues');
    return undefined;
  }
  if (header !== undefined) {
    const key = header.toLowerCase();
    if (!HEADER_NAME.test(key)) {
      f.get('header')?.error(`"${header}" is not a header name`);
      return undefined;
    }
    const setBy = f.get('setBy') ? parseSetBy(f.get('setBy') as Cursor) : undefined;
    if (action === 'allow' && !setBy && values.length > 0)
      c.warn(
        `this allow trusts header ${header}, which any caller it admits can set to anything`,
        'say who may set it: setBy: {workloads: [ingress]}',
      );
    return { attribute: 'header', key, values, notValues, ...(setBy ? { setBy } : {}) };
  }
  if (claim !== undefined) return { attribute: 'claim', key: claim, values, notValues };
  return { attribute: attribute === 'port' ? 'port' : 'principal', key: '', values, notValues };
}

export function parseCondition(c: Cursor, action: Action | undefined): Condition | undefined {
  const f = c.fields(['header', 'claim', 'attribute', 'equals', 'prefix', 'present', 'contains', 'values', 'notValues', 'setBy']);
  if (!f) return undefined;
  if (f.has('values') || f.has('notValues') || f.has('attribute')) return listCondition(c, f, action);
  const header = f.get('header')?.string();
  const claim = claimOf(f.get('claim'));
  if ((header === undefined) === (claim === undefined)) {
    c.error('a condition names exactly one of header or claim', 'for example {header: x-device-posture, equals: compliant}');
    return undefined;
  }
  const ops = ['equals', 'prefix', 'present', 'contains'].filter((k) => f.has(k));
  if (ops.length !== 1) {
    c.error(
      `a condition has exactly one test, got ${ops.length ? ops.join(' and ') : 'none'}`,
      header !== undefined ? 'equals, prefix or present' : 'equals or contains',
    );
    return undefined;
  }
  const op = ops[0] as string;
  const opC = f.get(op) as Cursor;
  const setByC = f.get('setBy');
  if (setByC && (header === undefined || action !== 'allow')) {
    setByC.error(
      header === undefined ? 'setBy binds a header, not a claim (a verified claim is trusted already)' : `setBy in a ${action} rule`,
      'setBy narrows an allow rule to the callers trusted to set the header; a deny must match whoever sends it',
    );
    return undefined;
  }
  const setBy = setByC ? parseSetBy(setByC) : undefined;
  // A valid header condition: bound to its setters, or (in an allow) a warning that any caller can set it.
  const bound = (cond: Condition): Condition => {
    if (action === 'allow' && !setByC)
      c.warn(
        `this allow trusts header ${header}, which any caller it admits can set to anything`,
        'take it from a verified token claim ({claim: …}), or say who may set it: setBy: {workloads: [ingress]}',
      );
    return setBy ? { ...cond, setBy } : cond;
  };
  if (header !== undefined) {
    const key = header.toLowerCase();
    if (!HEADER_NAME.test(key)) {
      f.get('header')?.error(
        `"${header}" is not a header name`,
        key.startsWith(':') ? 'use to.hosts, to.methods, to.paths for pseudo-headers' : undefined,
      );
      return undefined;
    }
    if (op === 'contains') {
      opC.error('headers support equals, prefix or present', 'contains is for list claims such as amr');
      return undefined;
    }
    if (op === 'present') {
      if (opC.bool() !== true) opC.error('present takes true', 'to require a header to be absent, use a deny rule');
      return bound({ attribute: 'header', key, values: [{ kind: 'present', value: '' }], notValues: [] });
    }
    const value = opC.string();
    if (value === undefined) return undefined;
    const problem = headerOperandProblem(value);
    if (problem) {
      opC.error(`${op} "${value}": ${problem}`, 'a header sent as "a, b" is tested as "a, b", "a" and "b" (docs/semantics.md)');
      return undefined;
    }
    return bound({ attribute: 'header', key, values: [{ kind: op === 'equals' ? 'exact' : 'prefix', value }], notValues: [] });
  }
  if (op !== 'equals' && op !== 'contains') {
    opC.error(`claims support equals or contains, not ${op}`);
    return undefined;
  }
  const value = opC.string();
  if (value === undefined || !claim) return undefined;
  // A list claim matches when one of its elements does, so equals and contains compile alike;
  // both exist because "amr contains mfa" and "tenant equals acme" read as people think.
  return { attribute: 'claim', key: claim, values: [{ kind: 'exact', value }], notValues: [] };
}
