// The compiled policy as the filter holds it: decoded once in on_configure from the
// CompiledPolicy bytes (proto/perimeter/v1/compiled.proto) into flat tables, then only read.
// Nothing here changes after decoding: what a request reads lives in request.ts, what it
// decided in verdict.ts, and what is counted against the rules in contexts.ts (Installed).
// Strings point into the policy's own copy of the configuration bytes.
import { hashBytes, ptrOf, sameBytes, utf8 } from './bytes';
import { KIND_EXACT, KIND_FOLDED, KIND_MAX, KIND_PREFIX, KIND_SEGMENT_PREFIX, Match } from './match';
import { nested, Reader, WIRE_LEN, WIRE_VARINT } from './reader';

export const FORMAT_VERSION: u32 = 3;

/** Entries of a policy's method table (compiled.proto: bits 9 to 31 of a method mask). */
export const MAX_METHOD_TABLE: i32 = 23;

export const MODE_OBSERVE: u8 = 1;
export const MODE_SIMULATE: u8 = 2;
export const MODE_ENFORCE: u8 = 3;

export const ACTION_ALLOW: u8 = 1;
export const ACTION_DENY: u8 = 2;
export const ACTION_AUDIT: u8 = 3;

export const PEER_ANY: u8 = 0;
export const PEER_AUTHENTICATED: u8 = 1;
export const PEER_UNAUTHENTICATED: u8 = 2;

export const ATTR_HEADER: u8 = 1;
export const ATTR_CLAIM: u8 = 2;
export const ATTR_PRINCIPAL: u8 = 3;
export const ATTR_PORT: u8 = 4;

export const NEED_PORT: u32 = 1;
export const NEED_TIME: u32 = 2;
export const NEED_CLAIMS: u32 = 4;

// Shared empty tables: most lists of most rules are empty, and an allocation each would
// multiply a large policy's footprint.
export const NO_MATCHES = new StaticArray<Match>(0);
export const NO_U32 = new StaticArray<u32>(0);
export const NO_BYTES = new ArrayBuffer(0);

export class Source {
  peer: u8 = PEER_ANY;
  principals: StaticArray<Match> = NO_MATCHES;
  notPrincipals: StaticArray<Match> = NO_MATCHES;
  requestPrincipals: StaticArray<Match> = NO_MATCHES;
  notRequestPrincipals: StaticArray<Match> = NO_MATCHES;
  namespaces: StaticArray<Match> = NO_MATCHES;
  notNamespaces: StaticArray<Match> = NO_MATCHES;
  trustDomains: StaticArray<Match> = NO_MATCHES;
  notTrustDomains: StaticArray<Match> = NO_MATCHES;
}

export class Operation {
  methods: u32 = 0;
  notMethods: u32 = 0;
  paths: StaticArray<Match> = NO_MATCHES;
  notPaths: StaticArray<Match> = NO_MATCHES;
  hosts: StaticArray<Match> = NO_MATCHES;
  notHosts: StaticArray<Match> = NO_MATCHES;
  authorities: StaticArray<Match> = NO_MATCHES;
  notAuthorities: StaticArray<Match> = NO_MATCHES;
  ports: StaticArray<u32> = NO_U32;
  notPorts: StaticArray<u32> = NO_U32;
}

export class Condition {
  attribute: u8 = 0;
  key: u32 = 0;
  values: StaticArray<Match> = NO_MATCHES;
  notValues: StaticArray<Match> = NO_MATCHES;
}

export const NO_SOURCES = new StaticArray<Source>(0);
export const NO_OPERATIONS = new StaticArray<Operation>(0);
export const NO_CONDITIONS = new StaticArray<Condition>(0);

export class Rule {
  namePtr: usize = 0;
  nameLen: usize = 0;
  perimeter: u32 = 0;
  action: u8 = 0;
  mode: u8 = 0;
  expiresMs: i64 = 0;
  sources: StaticArray<Source> = NO_SOURCES;
  operations: StaticArray<Operation> = NO_OPERATIONS;
  conditions: StaticArray<Condition> = NO_CONDITIONS;
  /** "perimeter/rule", for the decision record. */
  label: ArrayBuffer = NO_BYTES;
  /** Response details of a deny by this rule: perimeter_denied[perimeter/rule@version]. */
  details: ArrayBuffer = NO_BYTES;
}

export class Perimeter {
  namePtr: usize = 0;
  nameLen: usize = 0;
  mode: u8 = 0;
}

/** Open-addressing hash table from identity bytes to the rules whose sources name them. */
export class IdentityTable {
  mask: u32 = 0;
  hashes: StaticArray<u32> = NO_U32;
  keyPtrs: StaticArray<usize> = [];
  keyLens: StaticArray<u32> = NO_U32;
  refStart: StaticArray<u32> = NO_U32;
  refCount: StaticArray<u32> = NO_U32;
  refs: StaticArray<u32> = NO_U32;
  /** Distinct key lengths, for prefix tables (probed once per length). */
  lengths: StaticArray<u32> = NO_U32;
  /** Per length: 1 when some key of that length is a raw prefix (probed whatever follows it). */
  rawAt: StaticArray<u32> = NO_U32;

  /** Slot of the key, or -1. */
  @inline find(p: usize, len: usize): i32 {
    if (this.refs.length == 0) return -1;
    const h = hashBytes(p, len);
    let i = h & this.mask;
    while (true) {
      const kl = unchecked(this.keyLens[i]);
      if (kl == 0xffffffff) return -1;
      if (unchecked(this.hashes[i]) == h && kl == <u32>len && sameBytes(unchecked(this.keyPtrs[i]), p, len)) return <i32>i;
      i = (i + 1) & this.mask;
    }
  }
}

export class Policy {
  pool: ArrayBuffer;
  versionPtr: usize = 0;
  versionLen: usize = 0;
  defaultMode: u8 = MODE_ENFORCE;
  defaultPerimeterPtr: usize = 0;
  defaultPerimeterLen: usize = 0;
  perimeters: StaticArray<Perimeter> = [];
  rules: StaticArray<Rule> = [];
  headers: StaticArray<Match> = NO_MATCHES;
  claims: StaticArray<Match> = NO_MATCHES;
  /** Per claim name, the length of its first segment (a nested name's segments are joined by NUL). */
  claimHeads: StaticArray<u32> = NO_U32;
  /** Method matchers beyond the nine standard methods: entry i is mask bit 9 + i. */
  methods: StaticArray<Match> = NO_MATCHES;
  needs: u32 = 0;
  /** compiled.proto PathParameters: 0/1 reject, 2 strip, 3 keep. */
  pathParameters: u8 = 0;
  usesRequestPrincipal: bool = false;
  /** Some rule tests the host or the authority (else the request's is only checked for length). */
  readsHost: bool = false;
  exact: IdentityTable = new IdentityTable();
  prefix: IdentityTable = new IdentityTable();
  authenticated: StaticArray<u32> = NO_U32;
  unauthenticated: StaticArray<u32> = NO_U32;
  /** "default" and unsafe-request labels and details of this policy. */
  defaultLabel: ArrayBuffer = NO_BYTES;
  defaultDetails: ArrayBuffer = NO_BYTES;
  unsafeLabel: ArrayBuffer = NO_BYTES;
  unsafeDetails: ArrayBuffer = NO_BYTES;
  /** The staged candidate, decided in shadow; it reads the same headers and claims, in the same order. */
  candidate: Policy | null = null;

  constructor(pool: ArrayBuffer) {
    this.pool = pool;
  }
}
