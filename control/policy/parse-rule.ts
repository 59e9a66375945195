/**
 * One rule of a Perimeter (`rules[i]`): who it admits or denies (`from`, parse-source.ts), what
 * requests (`to`), under which conditions (`when`, parse-condition.ts), its mode and expiry.
 * Every problem becomes a diagnostic with its path.
 */
import { isStandardMethod, METHOD_TOKEN } from '../../contracts/methods.js';
import { asciiLower } from '../../contracts/string-match.js';
import { matchItems } from './match-items.js';
import {
  ACTIONS,
  type Action,
  type Condition,
  emptyOperation,
  MODES,
  type Mode,
  type Operation,
  type Rule,
  type StringMatch,
} from './model.js';
import { NAME, suggestName } from './names.js';
import { parseCondition } from './parse-condition.js';
import { parseFrom } from './parse-source.js';
import { parseHostPattern, parsePathPattern } from './patterns.js';
import { type Cursor, location } from './yaml-cursor.js';

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
function pathCaseOf(c: Cursor | undefined, action: Action | undefined): boolean {
  const v = c?.oneOf(['sensitive', 'insensitive'] as const);
  return v ? v === 'insensitive' : action !== 'allow';
}

function parseOperation(c: Cursor, action: Action | undefined): Operation {
  const op = emptyOperation();
  const f = c.fields([
    'methods',
    'notMethods',
    'paths',
    'notPaths',
    'hosts',
    'notHosts',
    'authorities',
    'notAuthorities',
    'ports',
    'notPorts',
    'pathCase',
  ]);
  if (!f) return op;
  const ignoreCase = pathCaseOf(f.get('pathCase'), action);
  const method = (m: string, at: Cursor): StringMatch | undefined => {
    const problem = methodProblem(m);
    if (!problem) return { kind: 'exact', value: m };
    at.error(problem.message, problem.hint);
    return undefined;
  };
  const path = (p: string, at: Cursor): StringMatch | undefined => {
    const r = parsePathPattern(p);
    if (r.ok) return r.value;
    at.error(`unsafe path pattern "${p}": ${r.problems[0]?.message}`, r.problems[0]?.hint);
    return undefined;
  };
  const host = (h: string, at: Cursor): StringMatch | undefined => {
    const r = parseHostPattern(h);
    if (r.ok) return r.value;
    at.error(`bad host pattern "${h}": ${r.problems[0]?.message}`);
    return undefined;
  };
  const folded = (m: StringMatch): StringMatch => (ignoreCase ? { ...m, value: asciiLower(m.value), ignoreCase } : m);
  op.methods = matchItems(f.get('methods'), METHOD_OBJECTS, method);
  op.notMethods = matchItems(f.get('notMethods'), METHOD_OBJECTS, method);
  op.paths = matchItems(f.get('paths'), PATH_OBJECTS, path).map(folded);
  op.notPaths = matchItems(f.get('notPaths'), PATH_OBJECTS, path).map(folded);
  // Hosts compare without case: the compiler lower-cases them.
  op.hosts = matchItems(f.get('hosts'), METHOD_OBJECTS, host);
  op.notHosts = matchItems(f.get('notHosts'), METHOD_OBJECTS, host);
  // The whole :authority as sent, port included (what Istio's hosts test); compared without case.
  const authority = (a: string): StringMatch => ({ kind: 'exact', value: asciiLower(a) });
  op.authorities = matchItems(f.get('authorities'), METHOD_OBJECTS, authority);
  op.notAuthorities = matchItems(f.get('notAuthorities'), METHOD_OBJECTS, authority);
  for (const [key, into] of [
    ['ports', op.ports],
    ['notPorts', op.notPorts],
  ] as const) {
    for (const pc of f.get(key)?.items() ?? []) {
      const n = pc.integer(1, 65535);
      if (n !== undefined) into.push(n);
    }
  }
  return op;
}

const METHOD_OBJECTS = ['exact', 'prefix', 'suffix', 'present'] as const;
const PATH_OBJECTS = ['exact', 'prefix', 'suffix', 'present', 'template'] as const;

/** `/exact/path`, `/prefix/*` (segment boundary) or `/*`; error text is "problem|hint". */

/**
 * A method is a case-sensitive token (RFC 9110): WebDAV's PROPFIND and custom verbs are methods
 * too. "get" is a token, but no client sends it meaning GET, so it is refused with a hint.
 */
export function methodProblem(m: string): { message: string; hint: string } | undefined {
  if (!METHOD_TOKEN.test(m))
    return { message: `"${m}" is not an HTTP method token`, hint: "letters, digits and !#$%&'*+-.^_`|~, at most 64" };
  const upper = m.toUpperCase();
  if (upper !== m && isStandardMethod(upper))
    return { message: `"${m}" is not an HTTP method`, hint: `methods are case-sensitive and upper-case: ${upper}` };
  return undefined;
}
