/**
 * The policy domain: what the loader produces from YAML (native or Istio) and the compiler
 * consumes. Plain data, no generated types; proto conversion lives in control/compile/proto-adapter.ts.
 */
import type { PathParameters } from '../../contracts/request-path.js';

export const MODES = ['observe', 'simulate', 'enforce'] as const;
export type Mode = (typeof MODES)[number];

export const ACTIONS = ['allow', 'deny', 'audit'] as const;
export type Action = (typeof ACTIONS)[number];

/** Strength order: enforce > simulate > observe. */
export function modeRank(m: Mode): number {
  return MODES.indexOf(m);
}

export interface Location {
  file: string;
  line: number;
  column: number;
}

export interface Workload {
  name: string;
  identity: string;
  namespace: string;
  labels: Record<string, string>;
  /** Overrides the mesh's `pathParameters` for this workload's application. */
  pathParameters?: PathParameters;
  location: Location;
}

export interface Mesh {
  trustDomain: string;
  /** What unprotected workloads do: `enforce` = default deny, `observe` = allow and record. */
  defaultMode: 'enforce' | 'observe';
  /** What `;` in a path means, unless a workload says otherwise; `reject` when not given. */
  pathParameters?: PathParameters;
  /**
   * Earlier or federated names of the trust domain (Istio's trustDomainAliases): identities
   * written for one of them also name callers of the others.
   */
  trustDomainAliases?: string[];
  location?: Location;
}

export type MatchKind =
  | 'exact'
  | 'prefix'
  | 'suffix'
  | 'present'
  | 'contains'
  | 'segment-prefix'
  /** Envoy uri_template, as contracts/path-template.ts reads it. */
  | 'template'
  /** "<ns>/<sa>" of any trust domain (Istio serviceAccounts), contracts/spiffe-patterns.ts. */
  | 'service-account'
  /** "<prefix>*" / "*<suffix>" of a SPIFFE ID's trust domain (Istio trustDomains). */
  | 'trust-domain'
  /** An Istio namespace pattern ("ns-*"), contracts/spiffe-patterns.ts. */
  | 'namespace-pattern';

export interface StringMatch {
  kind: MatchKind;
  value: string;
  /** ASCII letters compare without case (paths of a rule with `pathCase: insensitive`); the value is lower case. */
  ignoreCase?: boolean;
  /** Written as a matcher object: an identity that trust-domain aliases never widen. */
  literal?: true;
}

export type Peer = 'any' | 'authenticated' | 'unauthenticated';

/** One alternative of `from`; populated fields AND, values of one field OR. */
export interface Source {
  peer: Peer;
  principals: StringMatch[];
  notPrincipals: StringMatch[];
  /** Matched against the peer identity too, AND-ed with principals (Istio namespaces). */
  namespaces: StringMatch[];
  notNamespaces: StringMatch[];
  requestPrincipals: StringMatch[];
  notRequestPrincipals: StringMatch[];
  /** Kind 'trust-domain' (Istio trustDomains), AND-ed with principals and namespaces; aliases expand at compile time. */
  trustDomains: StringMatch[];
  notTrustDomains: StringMatch[];
  /** Registry workload names; the compiler resolves them to exact principals. */
  workloads: string[];
  /** Label selectors (OR); the compiler resolves them to exact principals. */
  labels: Record<string, string>[];
}

/** One alternative of `to`; populated fields AND, values of one field OR. */
export interface Operation {
  /** Method tokens, case-sensitive: exact (any token), or Istio's prefix/suffix/presence forms. */
  methods: StringMatch[];
  notMethods: StringMatch[];
  paths: StringMatch[];
  notPaths: StringMatch[];
  hosts: StringMatch[];
  notHosts: StringMatch[];
  /** Istio hosts: the whole :authority as sent (port included), case-insensitive. */
  authorities: StringMatch[];
  notAuthorities: StringMatch[];
  ports: number[];
  notPorts: number[];
}

export type Attribute = 'header' | 'claim' | 'principal' | 'port';

export interface Condition {
  attribute: Attribute;
  key: string;
  values: StringMatch[];
  notValues: StringMatch[];
  /**
   * A header is whatever the direct caller sends: trusted only from these identities (say, the
   * ingress that sets it after checking the device). The condition holds only for them.
   */
  setBy?: Source;
}

export interface Rule {
  name: string;
  action: Action;
  /** OR. Empty: every caller, authenticated or not (allowed for deny and audit rules only). */
  from: Source[];
  /** OR. Empty: any operation. */
  to: Operation[];
  /** AND. */
  when: Condition[];
  expiresUnixMs?: number;
  /** A staged rule's own mode; absent: the perimeter's. */
  mode?: Mode;
  location: Location;
}

export interface Selector {
  /** Every workload (of `namespace`, when given). */
  all?: boolean;
  /** Restricts everything else to workloads of this namespace (Istio policy scope). */
  namespace?: string;
  workloads: string[];
  identities: string[];
  /** OR of label selectors; all labels of one selector must match. */
  labels: Record<string, string>[];
}

/** Another version of a perimeter's rules: the staged candidate, or what promote replaced. */
export interface RuleSet {
  mode: Mode;
  rules: Rule[];
  location: Location;
}

export interface Perimeter {
  name: string;
  owner: string;
  mode: Mode;
  selector: Selector;
  rules: Rule[];
  origin: 'perimeter' | 'istio';
  /**
   * false: selecting a workload does not make it default-deny (Istio DENY and AUDIT policies); a
   * workload selected only by such perimeters allows what they do not deny, as Istio does.
   */
  defaultDeny?: false;
  crownJewel: boolean;
  /** Staged: decided in shadow beside `rules` by the filter, which records where they disagree. */
  candidate?: RuleSet;
  /** What `perimeter promote` replaced; `perimeter rollback --perimeter` brings it back. Never compiled. */
  previous?: RuleSet;
  location: Location;
}

export interface PolicySet {
  mesh: Mesh;
  workloads: Workload[];
  perimeters: Perimeter[];
}

export function emptySource(peer: Peer): Source {
  return {
    peer,
    principals: [],
    notPrincipals: [],
    namespaces: [],
    notNamespaces: [],
    requestPrincipals: [],
    notRequestPrincipals: [],
    trustDomains: [],
    notTrustDomains: [],
    workloads: [],
    labels: [],
  };
}

export function emptyOperation(): Operation {
  return {
    methods: [],
    notMethods: [],
    paths: [],
    notPaths: [],
    hosts: [],
    notHosts: [],
    authorities: [],
    notAuthorities: [],
    ports: [],
    notPorts: [],
  };
}
