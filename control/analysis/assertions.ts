/**
 * The assertions `perimeter verify` proves, read from YAML with every problem at its place:
 *
 *   apiVersion: perimeter.dev/v1
 *   kind: Assertions
 *   assertions:
 *     - name: card-charges-stay-in-shop
 *       never: {from: {notNamespace: shop}, to: payments, methods: [POST], paths: ["/payments/*"]}
 *     - name: admin-only-from-jump-host
 *       only: {to: "*", paths: ["/admin/*"], from: [jump-host]}
 *
 * `never`: no request it names passes. `always`: every request it names passes. `only`: a
 * request to what it names passes only from the callers it names. `from` is a workload name,
 * `unauthenticated`, `"*"` (any authenticated caller), an identity or `spiffe://td/ns/x/*`, a
 * list of those, `{namespace: x}` / `{notNamespace: x}`, or a rule's `from` mapping; `to` is a
 * workload name, a list of them, `"*"` or a selector mapping. Paths in `never` and `only` match
 * in any case (as a deny's do), in `always` as written (as an allow's do).
 */
import { isStandardMethod, METHOD_TOKEN } from '../../contracts/methods.js';
import { type Diagnostic, hasErrors, sortDiagnostics } from '../policy/diagnostics.js';
import { API_VERSION, type SourceFile, yamlDocuments } from '../policy/load.js';
import { matchItems } from '../policy/match-items.js';
import { emptySource, type Location, type Selector, type Source, type StringMatch } from '../policy/model.js';
import { NAME } from '../policy/names.js';
import { identity, parseFrom, parseSelector } from '../policy/parse-source.js';
import { parseHostPattern, parseNamespacePattern, parsePathPattern } from '../policy/patterns.js';
import { type Cursor, location, type Reference, Cursor as YamlCursor } from '../policy/yaml-cursor.js';

export const ASSERTION_KINDS = ['never', 'always', 'only'] as const;
export type AssertionKind = (typeof ASSERTION_KINDS)[number];

export interface Assertion {
  name: string;
  kind: AssertionKind;
  /** Empty: every caller, with or without a certificate. */
  from: Source[];
  /** The `from` as written, for people. */
  fromText: string;
  to: Selector;
  toText: string;
  methods: string[];
  paths: StringMatch[];
  hosts: StringMatch[];
  ports: number[];
  location: Location;
}

export interface AssertionsFile {
  assertions: Assertion[];
  diagnostics: Diagnostic[];
  /** Workload names the assertions use, checked against the registry by whoever has it. */
  references: Reference[];
  ok: boolean;
}

const BODY_FIELDS = ['from', 'to', 'methods', 'paths', 'hosts', 'ports'];

export function parseAssertions(file: SourceFile): AssertionsFile {
  const diagnostics: Diagnostic[] = [];
  const assertions: Assertion[] = [];
  const references: Reference[] = [];
  const { lines, roots } = yamlDocuments(file, diagnostics);
  for (const node of roots) {
    const root = new YamlCursor({ file: file.name, lines, resource: 'Assertions', diagnostics, references }, node, '');
    const f = root.fields(['apiVersion', 'kind', 'metadata', 'assertions']);
    if (!f) {
      root.error('an assertions document is a mapping', `apiVersion: ${API_VERSION}, kind: Assertions, assertions: [...]`);
      continue;
    }
    if (f.get('apiVersion')?.string() !== API_VERSION) root.error(`apiVersion must be ${API_VERSION}`);
    if (f.get('kind')?.string() !== 'Assertions') root.error('kind must be Assertions');
    const list = f.get('assertions');
    if (!list?.isList()) {
      root.error('assertions: a list of assertions is required');
      continue;
    }
    for (const item of list.items()) {
      const a = parseAssertion(item);
      if (a) assertions.push(a);
    }
  }
  const names = new Set<string>();
  for (const a of assertions) {
    if (names.has(a.name))
      diagnostics.push({
        severity: 'error',
        ...a.location,
        path: `Assertions: ${a.name}`,
        message: `assertion "${a.name}" is given twice`,
      });
    names.add(a.name);
  }
  if (assertions.length === 0 && !hasErrors(diagnostics))
    diagnostics.push({ severity: 'error', file: file.name, line: 1, column: 1, path: '', message: 'no assertions in this file' });
  sortDiagnostics(diagnostics);
  return { assertions, diagnostics, references, ok: !hasErrors(diagnostics) };
}

function parseAssertion(c: Cursor): Assertion | undefined {
  const f = c.fields(['name', ...ASSERTION_KINDS]);
  if (!f) return undefined;
  const name = f.get('name')?.string();
  if (name === undefined) c.error('an assertion needs a name', 'it names the assertion in every result: name: no-public-writes');
  else if (!NAME.test(name)) f.get('name')?.error(`"${name}" is not a valid name`, 'lower-case letters, digits, "-" and "."');
  const kinds = ASSERTION_KINDS.filter((k) => f.has(k));
  if (kinds.length !== 1) {
    c.error('an assertion is exactly one of never, always or only', 'never: {from: unauthenticated, to: db}');
    return undefined;
  }
  const kind = kinds[0] as AssertionKind;
  const body = f.get(kind) as Cursor;
  const b = body.fields(BODY_FIELDS);
  if (!b) {
    body.error('expected a mapping', `${kind}: {from: ..., to: ..., methods: [...], paths: [...]}`);
    return undefined;
  }
  const toC = b.get('to');
  if (!toC) body.error('to is required: the workloads the assertion is about', 'a workload name, a list of names, "*" or {labels: {...}}');
  const fromC = b.get('from');
  if (kind === 'only' && !fromC) body.error('only needs from: the callers that alone may make these requests');
  const from = fromC ? parseAssertionFrom(fromC) : [];
  const to = toC ? parseTo(toC) : undefined;
  // A never/only reads paths as a deny does (any case), an always as an allow does (as written).
  const ignoreCase = kind !== 'always';
  const paths = matchItems(b.get('paths'), ['exact', 'prefix', 'suffix', 'template'], (p, at) => {
    const r = parsePathPattern(p);
    if (!r.ok) at.error(`bad path pattern "${p}": ${r.problems[0]?.message}`, r.problems[0]?.hint);
    return r.ok ? r.value : undefined;
  }).map((m) => (ignoreCase ? { ...m, value: m.value.toLowerCase(), ignoreCase } : m));
  const hosts = matchItems(b.get('hosts'), ['exact', 'suffix', 'present'], (h, at) => {
    const r = parseHostPattern(h);
    if (!r.ok) at.error(`bad host pattern "${h}": ${r.problems[0]?.message}`);
    return r.ok ? r.value : undefined;
  });
  const methods: string[] = [];
  for (const mc of b.get('methods')?.items() ?? []) {
    const m = mc.string();
    if (m === undefined) continue;
    if (!METHOD_TOKEN.test(m)) mc.error(`"${m}" is not an HTTP method token`);
    else if (m !== m.toUpperCase() && isStandardMethod(m.toUpperCase()))
      mc.error(`"${m}" is not an HTTP method`, `methods are case-sensitive: ${m.toUpperCase()}`);
    else methods.push(m);
  }
  const ports = (b.get('ports')?.items() ?? []).map((p) => p.integer(1, 65535)).filter((p): p is number => p !== undefined);
  if (name === undefined || !to || !toC) return undefined;
  return {
    name,
    kind,
    from,
    fromText: fromC ? describeNode(fromC) : 'any caller',
    to,
    toText: describeNode(toC),
    methods,
    paths,
    hosts,
    ports,
    location: location(c),
  };
}

/** The callers, in the assertion's short forms or as a rule's `from`. */
function parseAssertionFrom(c: Cursor): Source[] {
  if (c.isList()) return c.items().flatMap(parseAssertionFrom);
  if (c.isMap()) {
    if (c.peek('namespace') === undefined && c.peek('notNamespace') === undefined) {
      const sources = parseFrom(c);
      if (sources.some((s) => s.requestPrincipals.length + s.notRequestPrincipals.length > 0))
        c.error('an assertion names callers by their peer identity', 'requestPrincipals belong in rules');
      return sources;
    }
    const f = c.fields(['namespace', 'notNamespace']);
    const ns = (key: string) => {
      const text = f?.get(key)?.string();
      if (text === undefined) return [];
      const r = parseNamespacePattern(text);
      if (!r.ok) f?.get(key)?.error(r.problems[0]?.message ?? '', r.problems[0]?.hint);
      return r.ok ? [r.value] : [];
    };
    const namespaces = ns('namespace');
    const notNamespaces = ns('notNamespace');
    // Outside a namespace is every caller that is not in it, unauthenticated ones included.
    return [{ ...emptySource(namespaces.length > 0 ? 'authenticated' : 'any'), namespaces, notNamespaces }];
  }
  const text = c.string();
  if (text === undefined) return [];
  if (text === 'unauthenticated') return [emptySource('unauthenticated')];
  if (text === '*' || text.startsWith('spiffe://')) {
    const m = identity(text, c);
    return m ? [{ ...emptySource('authenticated'), principals: [m] }] : [];
  }
  if (!NAME.test(text)) {
    c.error(`"${text}" is not a workload name, an identity or unauthenticated`);
    return [];
  }
  c.refer({ kind: 'workload', workload: text });
  return [{ ...emptySource('authenticated'), workloads: [text] }];
}

function parseTo(c: Cursor): Selector | undefined {
  if (c.isMap()) return parseSelector(c);
  const names = c.isList() ? c.strings() : [c.string()].filter((s): s is string => s !== undefined);
  if (names.includes('*')) return { all: true, workloads: [], identities: [], labels: [] };
  for (const n of names)
    if (!NAME.test(n)) c.error(`"${n}" is not a workload name`, 'a workload name, a list of names, "*" or {labels: {...}}');
  for (const n of names) c.refer({ kind: 'workload', workload: n });
  return names.length > 0 ? { workloads: names, identities: [], labels: [] } : undefined;
}

/** A YAML value as one line, for the report (flow style, bounded). */
function describeNode(c: Cursor): string {
  const text = String(c.node ?? '').replace(/\s+/g, ' ');
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
