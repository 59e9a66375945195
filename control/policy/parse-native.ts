/**
 * The native language (`apiVersion: perimeter.dev/v1`): Workload, Mesh and Perimeter
 * documents into the domain model. Every problem becomes a diagnostic with its path; a
 * document with errors still yields what could be read, so one run reports everything.
 */

import { reasonOf } from '../../contracts/problem.js';
import { PATH_PARAMETERS } from '../../contracts/request-path.js';
import { namespaceOf, parseSpiffeId } from '../../contracts/spiffe.js';
import { type Mesh, MODES, type Mode, type Perimeter, type Rule, type RuleSet, type Workload } from './model.js';
import { NAME, suggestName } from './names.js';
import { parseRule } from './parse-rule.js';
import { parseSelector } from './parse-source.js';
import { type Cursor, location } from './yaml-cursor.js';

const LABEL_KEY = /^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

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
  const f = spec.fields(['trustDomain', 'trustDomainAliases', 'defaultMode', 'pathParameters']);
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
  const aliasesC = f.get('trustDomainAliases');
  const trustDomainAliases: string[] = [];
  for (const [i, alias] of (aliasesC?.strings() ?? []).entries()) {
    const item = aliasesC?.items()[i] as Cursor;
    if (!parseSpiffeId(`spiffe://${alias}`).ok) item.error(`"${alias}" is not a valid trust domain`, 'use a-z, 0-9, ".", "-" and "_"');
    else if (alias === trustDomain || trustDomainAliases.includes(alias)) item.warn(`"${alias}" is named already`, 'remove the repeat');
    else trustDomainAliases.push(alias);
  }
  return {
    trustDomain,
    defaultMode,
    pathParameters,
    ...(trustDomainAliases.length ? { trustDomainAliases } : {}),
    location: location(at),
  };
}

export function parsePerimeter(spec: Cursor, name: string, at: Cursor): Perimeter | undefined {
  const f = spec.fields(['owner', 'mode', 'selector', 'rules', 'crownJewel', 'defaultDeny', 'candidate', 'previous']);
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
  const defaultDenyC = f.get('defaultDeny');
  const defaultDeny = defaultDenyC?.bool();
  if (defaultDeny === false && rules.some((r) => r.action === 'allow'))
    defaultDenyC?.error(
      'a perimeter with allow rules denies what they do not allow',
      'defaultDeny: false is for perimeters of deny and audit rules',
    );
  if (rules.length === 0 && mode === 'enforce' && defaultDeny !== false) {
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
    ...(defaultDeny === false ? { defaultDeny } : {}),
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
