/**
 * The native language (`apiVersion: perimeter.dev/v1`): Workload, Mesh and Perimeter
 * documents into the domain model. Every problem becomes a diagnostic with its path; a
 * document with errors still yields what could be read, so one run reports everything.
 */

import { headerOperandProblem } from '../../contracts/header-value.js';
import { reasonOf } from '../../contracts/problem.js';
import { normalizePath, PATH_PARAMETERS } from '../../contracts/request-path.js';
import { namespaceOf, parseIdentityPattern, parseSpiffeId } from '../../contracts/spiffe.js';
import { asciiLower } from '../../contracts/string-match.js';
import {
  ACTIONS,
  type Action,
  type Condition,
  emptyOperation,
  emptySource,
  HTTP_METHODS,
  type Location,
  type Mesh,
  MODES,
  type Mode,
  type Operation,
  type Perimeter,
  type Rule,
  type RuleSet,
  type Selector,
  type Source,
  type StringMatch,
  type Workload,
} from './model.js';
import type { Cursor } from './yaml-cursor.js';

export const NAME = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const HOST_PATTERN = /^(\*|(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)$/;

export function suggestName(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9.-]+/g, '-')
      .replace(/^[-.]+|[-.]+$/g, '')
      .slice(0, 63) || 'name'
  );
}

export function location(c: Cursor): Location {
  const pos = c.ctx.lines.linePos(c.offset);
  return { file: c.ctx.file, line: pos.line, column: pos.col };
}

export function readName(meta: Cursor | undefined, doc: Cursor): string | undefined {
  const f = meta?.fields(['name', 'namespace', 'labels', 'annotations']);
  const nameC = f?.get('name');
  const name = nameC?.string();
  if (name === undefined) {
    (nameC ?? meta ?? doc).error('metadata.name is required', 'give every resource a name: metadata: {name: my-name}');
    return undefined;
  }
  if (!NAME.test(name)) {
    nameC?.error(`"${name}" is not a valid name`, `use lower-case letters, digits, "-" and "." (at most 63), e.g. "${suggestName(name)}"`);
  }
  return name;
}

export function parseWorkload(spec: Cursor, name: string, at: Cursor): Workload | undefined {
  const f = spec.fields(['identity', 'namespace', 'labels', 'pathParameters']);
  if (!f) {
    at.error('spec is required', 'a Workload needs spec.identity');
    return undefined;
  }
  const idC = f.get('identity');
  const identity = idC?.string();
  if (identity === undefined) {
    spec.error('identity is required', 'spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>');
    return undefined;
  }
  const parsed = parseSpiffeId(identity);
  if (!parsed.ok) idC?.error(`malformed SPIFFE ID "${identity}": ${reasonOf(parsed)}`);
  const labels: Record<string, string> = {};
  for (const [k, v] of f.get('labels')?.entries() ?? []) {
    if (!LABEL_KEY.test(k)) v.error(`label key "${k}" is not valid`, 'use [prefix/]name with letters, digits, "-", "_", "."');
    const value = v.string();
    if (value !== undefined) labels[k] = value;
  }
  const pathParameters = f.get('pathParameters')?.oneOf(PATH_PARAMETERS);
  return {
    name,
    identity,
    namespace: f.get('namespace')?.string() ?? namespaceOf(identity),
    labels,
    ...(pathParameters ? { pathParameters } : {}),
    location: location(at),
  };
}

export function parseMesh(spec: Cursor, at: Cursor): Mesh | undefined {
  const f = spec.fields(['trustDomain', 'defaultMode', 'pathParameters']);
  if (!f) {
    at.error('spec is required', 'a Mesh needs spec.trustDomain');
    return undefined;
  }
  const tdC = f.get('trustDomain');
  const trustDomain = tdC?.string();
  if (trustDomain === undefined) {
    spec.error('trustDomain is required', 'for example: trustDomain: shop.example');
    return undefined;
  }
  if (!parseSpiffeId(`spiffe://${trustDomain}`).ok) {
    tdC?.error(`"${trustDomain}" is not a valid trust domain`, 'use a-z, 0-9, ".", "-" and "_"');
  }
  const defaultMode = f.get('defaultMode')?.oneOf(['enforce', 'observe'] as const) ?? 'enforce';
  const pathParameters = f.get('pathParameters')?.oneOf(PATH_PARAMETERS) ?? 'reject';
  return { trustDomain, defaultMode, pathParameters, location: location(at) };
}

export function parsePerimeter(spec: Cursor, name: string, at: Cursor): Perimeter | undefined {
  const f = spec.fields(['owner', 'mode', 'selector', 'rules', 'crownJewel', 'candidate', 'previous']);
  if (!f) {
    at.error('spec is required', 'a Perimeter needs spec.owner, spec.mode, spec.selector and spec.rules');
    return undefined;
  }
  // The control server lays its quarantine over every workload under this name.
  if (name === 'quarantine') at.error('"quarantine" is reserved for perimeter quarantine', 'give this perimeter another name');
  const owner = f.get('owner')?.string();
  if (!owner) spec.error('owner is required', 'name the team or person who answers for this perimeter');
  const modeC = f.get('mode');
  const mode = modeC?.oneOf(MODES) ?? 'enforce';
  if (!modeC) spec.error('mode is required', 'start with "observe" or "simulate", then move to "enforce"');
  const selC = f.get('selector');
  const selector = selC ? parseSelector(selC) : undefined;
  if (!selector) spec.error('selector is required', 'select the workloads this perimeter protects: selector: {workloads: [name]}');

  const rulesC = f.get('rules');
  const rules = parseRules(rulesC);
  if (rules.length === 0 && mode === 'enforce') {
    (rulesC ?? spec).warn('this perimeter has no rules: in enforce mode it denies every request to its workloads');
  }
  return {
    name,
    owner: owner ?? '',
    mode,
    selector: selector ?? { workloads: [], identities: [], labels: [] },
    rules,
    origin: 'perimeter',
    crownJewel: f.get('crownJewel')?.bool() ?? false,
    ...staged(f.get('candidate'), mode, 'candidate'),
    ...staged(f.get('previous'), mode, 'previous'),
    location: location(at),
  };
}

function parseRules(rulesC: Cursor | undefined): Rule[] {
  const rules: Rule[] = [];
  const seen = new Map<string, number>();
  for (const rc of rulesC?.items() ?? []) {
    const rule = parseRule(rc);
    if (!rule) continue;
    const first = seen.get(rule.name);
    if (first !== undefined) {
      rc.error(`duplicate rule name "${rule.name}" (also rules[${first}])`, 'rule names must be unique within a perimeter');
    } else {
      seen.set(rule.name, rules.length);
    }
    rules.push(rule);
  }
  return rules;
}

/** `candidate:` or `previous:`, another version of the rules: {mode (default: the perimeter's), rules}. */
function staged(c: Cursor | undefined, perimeterMode: Mode, key: 'candidate' | 'previous'): { [k in typeof key]?: RuleSet } {
  if (!c) return {};
  const f = c.fields(['mode', 'rules']);
  if (!f) return {};
  const rulesC = f.get('rules');
  if (!rulesC) c.error(`${key}.rules is required`, `a ${key} version lists its rules as the perimeter does: ${key}: {rules: [...]}`);
  return { [key]: { mode: f.get('mode')?.oneOf(MODES) ?? perimeterMode, rules: parseRules(rulesC), location: location(c) } };
}

function parseLabelSelectors(c: Cursor): Record<string, string>[] {
  const one = (m: Cursor): Record<string, string> | undefined => {
    const out: Record<string, string> = {};
    for (const [k, v] of m.entries()) {
      const s = v.string();
      if (s !== undefined) out[k] = s;
    }
    if (Object.keys(out).length === 0) {
      m.error('an empty label selector would select nothing', 'give at least one label, e.g. {app: web}');
      return undefined;
    }
    return out;
  };
  const list = c.isList() ? c.items() : [c];
  const out: Record<string, string>[] = [];
  for (const m of list) {
    const sel = one(m);
    if (!sel) continue;
    m.refer({ kind: 'labels', labels: sel });
    out.push(sel);
  }
  return out;
}

function referWorkloads(c: Cursor | undefined): string[] {
  const names = c?.strings() ?? [];
  for (const [i, workload] of names.entries()) c?.items()[i]?.refer({ kind: 'workload', workload });
  return names;
}

function parseSelector(c: Cursor): Selector | undefined {
  const f = c.fields(['workloads', 'identities', 'labels']);
  if (!f) return undefined;
  const idsC = f.get('identities');
  const identities = idsC?.strings() ?? [];
  for (const [i, id] of identities.entries()) {
    const at = idsC?.items()[i] as Cursor;
    const parsed = parseSpiffeId(id);
    if (!parsed.ok) at.error(`malformed SPIFFE ID "${id}": ${reasonOf(parsed)}`);
    else at.refer({ kind: 'identity', identity: id });
  }
  const sel: Selector = {
    workloads: referWorkloads(f.get('workloads')),
    identities,
    labels: f.get('labels') ? parseLabelSelectors(f.get('labels') as Cursor) : [],
  };
  if (sel.workloads.length + sel.identities.length + sel.labels.length === 0) {
    c.error('the selector selects nothing', 'name workloads, identities or labels');
  }
  return sel;
}

export function parseRule(c: Cursor): Rule | undefined {
  const f = c.fields(['name', 'action', 'from', 'to', 'when', 'expires', 'mode']);
  if (!f) return undefined;
  const nameC = f.get('name');
  const name = nameC?.string();
  if (name === undefined) c.error('rule name is required', 'names show up in every deny and in the metrics: name: allow-app-reads');
  else if (!NAME.test(name))
    nameC?.error(`"${name}" is not a valid rule name`, `use lower-case letters, digits, "-" and ".", e.g. "${suggestName(name)}"`);
  const actionC = f.get('action');
  const action: Action | undefined = actionC?.oneOf(ACTIONS);
  if (!actionC) c.error('rule action is required', 'action: allow | deny | audit');

  const fromC = f.get('from');
  const from = fromC ? parseFrom(fromC) : [];
  const toC = f.get('to');
  const to = toC ? (toC.isList() ? toC.items() : [toC]).map((o) => parseOperation(o, action)) : [];
  const when = (f.get('when')?.items() ?? []).map((w) => parseCondition(w, action)).filter((x): x is Condition => x !== undefined);

  if (action === 'allow' && !fromC) {
    c.error(
      'an allow rule must say who it allows (from)',
      'an empty rule never means "everyone": write from: {identities: ["*"]} for every authenticated caller',
    );
  }
  if (action && action !== 'allow' && !fromC && !toC && when.length === 0) {
    c.error(
      `an empty ${action} rule would match every request`,
      'say what it matches; to match every caller write from: {identities: ["*"], unauthenticated: true}',
    );
  }
  const expiresC = f.get('expires');
  const expiresUnixMs = expiresC?.timestamp();
  if (expiresUnixMs !== undefined && expiresUnixMs <= Date.now()) {
    expiresC?.warn('this rule has expired and no longer matches', 'remove it, or move its expiry forward');
  }
  const mode: Mode | undefined = f.get('mode')?.oneOf(MODES);
  if (name === undefined || action === undefined) return undefined;
  return {
    name,
    action,
    from,
    to,
    when,
    ...(expiresUnixMs !== undefined ? { expiresUnixMs } : {}),
    ...(mode ? { mode } : {}),
    location: location(c),
  };
}

/** `setBy`: who may set a header, as `from` names callers (never `unauthenticated` or `"*"`). */
function parseSetBy(c: Cursor): Source | undefined {
  const f = c.fields(['identities', 'workloads', 'labels']);
  if (!f) return undefined;
  const sources = parseFrom(c);
  const s = sources.find((x) => x.peer === 'authenticated');
  if (!s) return undefined;
  if (s.principals.some((p) => p.kind === 'present')) {
    f.get('identities')?.error('setBy "*" trusts every caller', 'name the identities that set the header');
    return undefined;
  }
  return s;
}

/** Native `from` → sources: one for identities/workloads/labels, one for `unauthenticated`. */
function parseFrom(c: Cursor): Source[] {
  const f = c.fields(['identities', 'workloads', 'labels', 'unauthenticated']);
  if (!f) return [];
  const sources: Source[] = [];
  const idsC = f.get('identities');
  const principals: StringMatch[] = [];
  for (const [i, text] of (idsC?.strings() ?? []).entries()) {
    const parsed = parseIdentityPattern(text);
    if (!parsed.ok) {
      idsC
        ?.items()
        [i]?.error(
          `malformed identity "${text}": ${reasonOf(parsed)}`,
          'exact: spiffe://td/ns/x/sa/y; below a segment: spiffe://td/ns/x/*; any authenticated: "*"',
        );
      continue;
    }
    const p = parsed.value;
    if (p.kind === 'any') principals.push({ kind: 'present', value: '' });
    else if (p.kind === 'exact') principals.push({ kind: 'exact', value: p.id });
    else principals.push({ kind: 'segment-prefix', value: p.base });
  }
  const workloads = referWorkloads(f.get('workloads'));
  const labels = f.get('labels') ? parseLabelSelectors(f.get('labels') as Cursor) : [];
  if (principals.length + workloads.length + labels.length > 0) {
    sources.push({ ...emptySource('authenticated'), principals, workloads, labels });
  }
  const unauth = f.get('unauthenticated')?.bool();
  if (unauth) sources.push(emptySource('unauthenticated'));
  if (
    sources.length === 0 &&
    idsC === undefined &&
    f.get('workloads') === undefined &&
    f.get('labels') === undefined &&
    unauth === undefined
  ) {
    c.error('from names no caller', 'give identities, workloads, labels or unauthenticated: true');
  }
  return sources;
}

/**
 * `pathCase` says whether a path pattern matches without regard to case. An application that
 * serves `/Admin/x` as `/admin/x` (Windows, many Java and .NET stacks) must not slip past a deny,
 * so a deny or audit rule matches paths in any case unless told `sensitive`; an allow rule matches
 * them exactly as written unless told `insensitive` (it never admits more than it names).
 */
function pathCaseOf(c: Cursor | undefined, action: Action | undefined): boolean {
  const v = c?.oneOf(['sensitive', 'insensitive'] as const);
  return v ? v === 'insensitive' : action !== 'allow';
}

function parseOperation(c: Cursor, action: Action | undefined): Operation {
  const op = emptyOperation();
  const f = c.fields(['methods', 'paths', 'hosts', 'ports', 'pathCase']);
  if (!f) return op;
  const ignoreCase = pathCaseOf(f.get('pathCase'), action);
  const methodsC = f.get('methods');
  for (const [i, m] of (methodsC?.strings() ?? []).entries()) {
    if ((HTTP_METHODS as readonly string[]).includes(m)) op.methods.push(m);
    else {
      const upper = m.toUpperCase();
      methodsC
        ?.items()
        [i]?.error(
          `"${m}" is not an HTTP method`,
          (HTTP_METHODS as readonly string[]).includes(upper) ? `methods are upper-case: ${upper}` : `one of ${HTTP_METHODS.join(', ')}`,
        );
    }
  }
  const pathsC = f.get('paths');
  for (const [i, p] of (pathsC?.strings() ?? []).entries()) {
    const m = parsePathPattern(p);
    if (typeof m === 'string') pathsC?.items()[i]?.error(`unsafe path pattern "${p}": ${m.split('|')[0]}`, m.split('|')[1]);
    else op.paths.push(ignoreCase ? { ...m, value: asciiLower(m.value), ignoreCase } : m);
  }
  const hostsC = f.get('hosts');
  for (const [i, h] of (hostsC?.strings() ?? []).entries()) {
    const m = parseHostPattern(h);
    if (typeof m === 'string') hostsC?.items()[i]?.error(`bad host pattern "${h}": ${m}`);
    else op.hosts.push(m);
  }
  for (const pc of f.get('ports')?.items() ?? []) {
    const n = pc.integer(1, 65535);
    if (n !== undefined) op.ports.push(n);
  }
  return op;
}

/** `/exact/path`, `/prefix/*` (segment boundary) or `/*`; error text is "problem|hint". */
export function parsePathPattern(p: string): StringMatch | string {
  if (!p.startsWith('/')) return 'a path starts with "/"|for example /orders or /orders/*';
  if (p.includes('?') || p.includes('#')) return 'queries and fragments are not matched|remove everything from "?" or "#"';
  if (p.includes(';') || /%3b/i.test(p))
    return 'path parameters (";") are never matched|a path with ";" is refused, or matched without it (Mesh or Workload pathParameters)';
  const prefix = p.endsWith('/*');
  const base = prefix ? p.slice(0, -2) : p;
  if (base.includes('*')) return '"*" is allowed only as a final "/*" segment|/orders/* matches /orders and everything below it';
  if (base === '') return { kind: 'segment-prefix', value: '' };
  const n = normalizePath(base);
  if (!n.ok) return `${n.reason}|write the path as a client would send it after normalisation`;
  if (n.path !== base) return `it is not normalised; requests are compared after normalisation|write "${n.path}${prefix ? '/*' : ''}"`;
  return prefix ? { kind: 'segment-prefix', value: base } : { kind: 'exact', value: base };
}

export function parseHostPattern(h: string): StringMatch | string {
  if (h !== h.toLowerCase()) return 'hosts are compared case-insensitively; write it in lower case';
  if (h.includes(':')) return 'ports are not part of a host pattern; use ports: [...]';
  if (!HOST_PATTERN.test(h)) return 'use a DNS name, "*.suffix" or "*"';
  if (h === '*') return { kind: 'present', value: '' };
  if (h.startsWith('*.')) return { kind: 'suffix', value: h.slice(1) };
  return { kind: 'exact', value: h };
}

function parseCondition(c: Cursor, action: Action | undefined): Condition | undefined {
  const f = c.fields(['header', 'claim', 'equals', 'prefix', 'present', 'contains', 'setBy']);
  if (!f) return undefined;
  const header = f.get('header')?.string();
  const claim = f.get('claim')?.string();
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
