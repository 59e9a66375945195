/**
 * Generated (policy, request) cases for the differential test: random policies over small
 * pools that collide on purpose (prefix boundaries, encoded and dot-segment paths, host case
 * and ports, missing and empty headers, unauthenticated peers, expired rules, every mode).
 */
import { PATH_PARAMETERS } from '../../contracts/request-path.js';
import {
  type Action,
  type Condition,
  emptyOperation,
  emptySource,
  type MatchKind,
  type Mode,
  type Operation,
  type Perimeter,
  type PolicySet,
  type Rule,
  type Source,
  type StringMatch,
  type Workload,
} from '../../control/policy/model.js';

/** mulberry32: small, fast, good enough to spread cases; the seed makes runs repeatable. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const NOW = Date.parse('2026-06-01T00:00:00Z');
const TD = 'spiffe://td.example';
const loc = { file: 'generated', line: 1, column: 1 };

export const IDENTITIES = [
  `${TD}/ns/a/sa/x`,
  `${TD}/ns/a/sa/y`,
  `${TD}/ns/ab/sa/x`,
  `${TD}/ns/b/sa/x`,
  `${TD}/ns/a`,
  `${TD}/ns/a/sa/x/extra`,
  'spiffe://other.example/ns/a/sa/x',
  `${TD}/ns/a/cluster/c1/sa/x`,
  `${TD}/ns/a/sa/xy`,
  'spiffe://td.other/ns/a/sa/x',
  'spiffe://td.example',
];
const PRINCIPAL_MATCHERS: StringMatch[] = [
  { kind: 'exact', value: `${TD}/ns/a/sa/x` },
  { kind: 'exact', value: `${TD}/ns/b/sa/x` },
  { kind: 'segment-prefix', value: `${TD}/ns/a` },
  { kind: 'segment-prefix', value: `${TD}/ns/a/sa/x` },
  { kind: 'prefix', value: `${TD}/ns/a` },
  { kind: 'suffix', value: '/sa/x' },
  { kind: 'present', value: '' },
  { kind: 'contains', value: '/ns/b/' },
  // Istio serviceAccounts and trustDomains.
  { kind: 'service-account', value: 'a/x' },
  { kind: 'service-account', value: 'b/x' },
  { kind: 'trust-domain', value: 'td.*' },
  { kind: 'trust-domain', value: '*.example' },
];
/** Istio trustDomains: names (aliases expand them), patterns, and any. */
const TRUST_DOMAINS: StringMatch[] = ['td.example', 'td.old', 'td.*', '*.example', '*'].map((value) => ({ kind: 'trust-domain', value }));
const PATHS: StringMatch[] = [
  { kind: 'exact', value: '/a' },
  { kind: 'exact', value: '/a/b' },
  { kind: 'exact', value: '/' },
  { kind: 'segment-prefix', value: '/a' },
  { kind: 'segment-prefix', value: '/a/b' },
  { kind: 'segment-prefix', value: '' },
  { kind: 'prefix', value: '/a' },
  { kind: 'suffix', value: '.json' },
  { kind: 'present', value: '' },
  { kind: 'exact', value: '/a%20b' },
  // Envoy uri_template, as Istio's {*} and {**} compile to.
  { kind: 'template', value: '/a/*' },
  { kind: 'template', value: '/*/b' },
  { kind: 'template', value: '/a/**' },
  { kind: 'template', value: '/**/b' },
  { kind: 'template', value: '/**' },
  { kind: 'template', value: '/a/*/' },
];
const HOSTS: StringMatch[] = [
  { kind: 'exact', value: 'api.example.com' },
  { kind: 'suffix', value: '.example.com' },
  { kind: 'prefix', value: 'api.' },
  { kind: 'present', value: '' },
  { kind: 'exact', value: '[::1]' },
];
/** Standard methods, WebDAV and custom verbs, and Istio's method patterns. */
/** Istio hosts: the whole :authority, port included. */
const AUTHORITIES: StringMatch[] = [
  { kind: 'exact', value: 'api.example.com' },
  { kind: 'exact', value: 'api.example.com:8443' },
  { kind: 'prefix', value: 'api.example.com:' },
  { kind: 'suffix', value: '.example.com' },
  { kind: 'suffix', value: ':80' },
  { kind: 'present', value: '' },
];
const METHODS: StringMatch[] = [
  ...['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND', 'MKCOL', 'PURGE', 'FOO'].map(
    (value): StringMatch => ({ kind: 'exact', value }),
  ),
  { kind: 'prefix', value: 'P' },
  { kind: 'suffix', value: 'ND' },
  { kind: 'present', value: '' },
];
const MODES: Mode[] = ['observe', 'simulate', 'enforce'];
const VALUES: StringMatch[] = [
  { kind: 'exact', value: 'v' },
  { kind: 'prefix', value: 'v' },
  { kind: 'present', value: '' },
  { kind: 'exact', value: '' },
  { kind: 'suffix', value: 'x' },
];

export function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

function some<T>(r: () => number, xs: readonly T[], max: number): T[] {
  const n = Math.floor(r() * (max + 1));
  return Array.from({ length: n }, () => pick(r, xs));
}

function source(r: () => number): Source {
  const roll = r();
  if (roll < 0.15) return emptySource('unauthenticated');
  if (roll < 0.25) {
    const s = emptySource('any');
    if (r() < 0.5) s.notPrincipals = [pick(r, PRINCIPAL_MATCHERS)];
    if (r() < 0.2) s.notTrustDomains = [pick(r, TRUST_DOMAINS)];
    if (r() < 0.3)
      s.requestPrincipals = [
        pick(r, [
          { kind: 'exact', value: 'https://iss/alice' },
          { kind: 'prefix', value: 'https://iss/' },
        ] as StringMatch[]),
      ];
    return s;
  }
  const s = emptySource('authenticated');
  if (r() < 0.2) s.labels = [{ team: pick(r, ['red', 'blue', 'none']) }];
  else s.principals = some(r, PRINCIPAL_MATCHERS, 2).concat(pick(r, PRINCIPAL_MATCHERS));
  if (r() < 0.15)
    s.namespaces = [
      pick(r, [
        { kind: 'contains', value: '/ns/a/' },
        { kind: 'contains', value: '/ns/b/' },
        { kind: 'namespace-pattern', value: 'a*' },
        { kind: 'namespace-pattern', value: '*b' },
      ] as StringMatch[]),
    ];
  if (r() < 0.1) s.notPrincipals = [pick(r, PRINCIPAL_MATCHERS)];
  if (r() < 0.1) s.trustDomains = [pick(r, TRUST_DOMAINS)];
  if (r() < 0.05) s.notTrustDomains = [pick(r, TRUST_DOMAINS)];
  return s;
}

function operation(r: () => number): Operation {
  const o = emptyOperation();
  if (r() < 0.5) o.methods = some(r, METHODS, 2).concat(pick(r, METHODS)); // any token: matched as sent
  if (r() < 0.1) o.notMethods = [pick(r, METHODS)];
  // A rule's paths may compare without case (pathCase: insensitive): the value is lower case then.
  const folded = r() < 0.3;
  const fold = (m: StringMatch): StringMatch => (folded ? { ...m, value: m.value.toLowerCase(), ignoreCase: true } : m);
  if (r() < 0.6) o.paths = some(r, PATHS, 1).concat(pick(r, PATHS)).map(fold);
  if (r() < 0.1) o.notPaths = [fold(pick(r, PATHS))];
  if (r() < 0.25) o.hosts = [pick(r, HOSTS)];
  if (r() < 0.05) o.notHosts = [pick(r, HOSTS)];
  if (r() < 0.15) o.authorities = [pick(r, AUTHORITIES)];
  if (r() < 0.05) o.notAuthorities = [pick(r, AUTHORITIES)];
  if (r() < 0.2) o.ports = [pick(r, [80, 8080])];
  if (r() < 0.05) o.notPorts = [pick(r, [80, 8080])];
  return o;
}

function condition(r: () => number): Condition {
  const roll = r();
  const kind = roll < 0.5 ? 'header' : roll < 0.75 ? 'claim' : roll < 0.9 ? 'principal' : 'port';
  // org\0roles: the nested claim org.roles (contracts/claim-path.ts).
  const key = kind === 'header' ? pick(r, ['x-a', 'x-b']) : kind === 'claim' ? pick(r, ['amr', 'groups', 'org\0roles']) : '';
  const values =
    kind === 'port'
      ? [{ kind: 'exact' as MatchKind, value: pick(r, ['80', '8080']) }]
      : kind === 'principal'
        ? [pick(r, PRINCIPAL_MATCHERS)]
        : kind === 'claim'
          ? [
              pick(r, [
                { kind: 'exact', value: 'mfa' },
                { kind: 'prefix', value: 'adm' },
                { kind: 'present', value: '' },
              ] as StringMatch[]),
            ]
          : [pick(r, VALUES)];
  const negative = r() < 0.2;
  return { attribute: kind, key, values: negative ? [] : values, notValues: negative ? values : [] };
}

function rule(r: () => number, i: number): Rule {
  const action: Action = pick(r, ['allow', 'allow', 'deny', 'audit'] as Action[]);
  const roll = r();
  return {
    name: `r${i}`,
    action,
    from: r() < 0.1 ? [] : Array.from({ length: 1 + Math.floor(r() * 2) }, () => source(r)),
    to: r() < 0.25 ? [] : Array.from({ length: 1 + Math.floor(r() * 2) }, () => operation(r)),
    when: r() < 0.6 ? [] : Array.from({ length: 1 + Math.floor(r() * 2) }, () => condition(r)),
    ...(roll < 0.1
      ? { expiresUnixMs: NOW - 1000 }
      : roll < 0.2
        ? { expiresUnixMs: NOW + 1000 }
        : roll < 0.22
          ? { expiresUnixMs: NOW }
          : {}),
    ...(r() < 0.2 ? { mode: pick(r, MODES) } : {}),
    location: loc,
  };
}

/** A policy set whose workload `svc` is protected by 0-3 perimeters of random rules. */
export function randomPolicy(r: () => number): PolicySet {
  const workloads: Workload[] = [
    { name: 'svc', identity: `${TD}/ns/svc/sa/svc`, namespace: 'svc', labels: { app: 'svc' }, location: loc },
    { name: 'ax', identity: `${TD}/ns/a/sa/x`, namespace: 'a', labels: { team: 'red' }, location: loc },
    { name: 'bx', identity: `${TD}/ns/b/sa/x`, namespace: 'b', labels: { team: 'blue' }, location: loc },
  ];
  const count = Math.floor(r() * 4);
  const perimeters: Perimeter[] = Array.from({ length: count }, (_, p) => {
    const rules = Array.from({ length: Math.floor(r() * 12) }, (_, i) => rule(r, i));
    // Istio's DENY and AUDIT policies: a workload selected only by them allows what they do not deny.
    const denyOnly = rules.every((x) => x.action !== 'allow') && r() < 0.5;
    return {
      name: `p${p}`,
      owner: 'gen',
      mode: pick(r, MODES),
      selector: { workloads: ['svc'], identities: [], labels: [] },
      rules,
      origin: r() < 0.3 ? ('istio' as const) : ('perimeter' as const),
      ...(denyOnly ? { defaultDeny: false as const } : {}),
      crownJewel: false,
      location: loc,
    };
  });
  const mesh = {
    trustDomain: 'td.example',
    defaultMode: r() < 0.8 ? ('enforce' as const) : ('observe' as const),
    ...(r() < 0.75 ? { pathParameters: pick(r, PATH_PARAMETERS) } : {}),
    ...(r() < 0.4 ? { trustDomainAliases: ['td.old', 'other.example'] } : {}),
  };
  return { mesh, workloads, perimeters };
}

/** The bytes a list of one element, "mfa", has in the host's pairs encoding, as a string. */
