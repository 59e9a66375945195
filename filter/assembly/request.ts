// The request being decided: everything the filter read of it, in one value that filter.ts
// fills and decide() reads. Its tables are sized when a policy is configured (reserve), never
// on the request path, so reading a request allocates nothing.
import { Policy } from "./policy";

/** Where the token's "iss/sub" is put together, for request-principal conditions. */
export const REQUEST_PRINCIPAL_BUF: usize = memory.data(2048);
export const REQUEST_PRINCIPAL_MAX: usize = 2048;
/** The destination port as decimal text, for `destination.port` conditions. */
export const PORT_BUF: usize = memory.data(8);

export class Request {
  authenticated: bool = false;
  /** The peer's URI SAN, in memory the host gave (valid until the request is released). */
  principalPtr: usize = 0;
  principalLen: usize = 0;
  /** One bit of compiled.proto MethodBit; 0 for a method no rule can name. */
  methodBit: u32 = 0;
  /** -1 when the policy does not read it or the host has none. */
  port: i64 = -1;
  portTextLen: usize = 0;
  nowMs: i64 = 0;
  /** Length of "iss/sub" in REQUEST_PRINCIPAL_BUF; -1 when there is none. */
  requestPrincipalLen: isize = -1;
  /** The raw `:path` (-1: none) and `:authority` as they came, and whether repeated headers overflowed. */
  rawPathPtr: usize = 0;
  rawPathLen: isize = -1;
  rawHostPtr: usize = 0;
  rawHostLen: usize = 0;
  joinedOverflow: bool = false;
  /** The normalised path (match.ts PATH_BUF) and authority (HOST_BUF). */
  pathLen: usize = 0;
  hostLen: usize = 0;
  /** The value of each header the policy reads (pointer, length; -1 = absent) and its line count. */
  headerPtrs: StaticArray<usize> = new StaticArray<usize>(0);
  headerLens: StaticArray<isize> = new StaticArray<isize>(0);
  headerCounts: StaticArray<u32> = new StaticArray<u32>(0);
  /** Each claim the policy reads: what it is (claims.ts CLAIM_*), where, how long. */
  claimKinds: StaticArray<u8> = new StaticArray<u8>(0);
  claimPtrs: StaticArray<usize> = new StaticArray<usize>(0);
  claimLens: StaticArray<isize> = new StaticArray<isize>(0);
  /** Per-rule visit stamps, so one decision evaluates each rule once; `generation` marks this one. */
  stamps: StaticArray<u32> = new StaticArray<u32>(0);
  generation: u32 = 0;

  /**
   * Makes room for a policy's tables and its candidate's. Only ever grows, at configure time:
   * streams still deciding with a replaced policy need no more room than it had.
   */
  reserveFor(policy: Policy): void {
    const c = policy.candidate;
    const rules = c !== null && c.rules.length > policy.rules.length ? c.rules.length : policy.rules.length;
    this.reserve(policy.headers.length, policy.claims.length, rules);
  }

  private reserve(headers: i32, claims: i32, rules: i32): void {
    if (headers > this.headerPtrs.length) {
      this.headerPtrs = new StaticArray<usize>(headers);
      this.headerLens = new StaticArray<isize>(headers);
      this.headerCounts = new StaticArray<u32>(headers);
    }
    if (claims > this.claimKinds.length) {
      this.claimKinds = new StaticArray<u8>(claims);
      this.claimPtrs = new StaticArray<usize>(claims);
      this.claimLens = new StaticArray<isize>(claims);
    }
    if (rules > this.stamps.length) {
      this.stamps = new StaticArray<u32>(rules);
      this.generation = 0;
    }
  }

  setPeer(present: bool, ptr: usize, len: usize): void {
    this.authenticated = present;
    this.principalPtr = ptr;
    this.principalLen = len;
  }

  setPort(p: i64): void {
    this.port = p;
    this.portTextLen = 0;
    if (p < 0) return;
    let v = p;
    let digits: usize = 1;
    for (let t = v; t >= 10; t /= 10) digits++;
    if (digits > 8) digits = 8;
    for (let i = <isize>digits - 1; i >= 0; i--) {
      store<u8>(PORT_BUF + <usize>i, <u8>(0x30 + (v % 10)));
      v /= 10;
    }
    this.portTextLen = digits;
  }

  /** A new generation of visit stamps for the next decision (all cleared when it wraps). */
  @inline nextGeneration(): u32 {
    this.generation++;
    if (this.generation == 0) {
      const stamps = this.stamps;
      for (let i = 0; i < stamps.length; i++) unchecked((stamps[i] = 0));
      this.generation = 1;
    }
    return this.generation;
  }
}
