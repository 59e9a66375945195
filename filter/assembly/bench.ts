// A benchmark-only entry (filter/build/perimeter-bench.wasm, never deployed): the same policy
// decoder and decision code as the filter, driven without host calls, so the pure in-Wasm
// decision cost can be measured apart from the host boundary.
import { decide } from "./decide";
import { normalizeHost, normalizePath } from "./match";
import { decodePolicy } from "./decode";
import { Policy } from "./policy";
import { Request } from "./request";
import { Verdict } from "./verdict";

let policy: Policy | null = null;
const request = new Request();
const live = new Verdict();
const staged = new Verdict();

export function malloc(size: usize): usize {
  return heap.alloc(size);
}

export function free(ptr: usize): void {
  heap.free(ptr);
}

/** Decodes CompiledPolicy bytes; 1 on success. */
export function bench_load(ptr: usize, len: usize): u32 {
  const pool = new ArrayBuffer(<i32>len);
  memory.copy(changetype<usize>(pool), ptr, len);
  policy = decodePolicy(pool);
  if (policy) request.reserveFor(policy as Policy);
  return policy ? 1 : 0;
}

/** Sets the request (principal length -1 = unauthenticated). */
export function bench_request(principal: usize, principalLen: i32, methodBit: u32, path: usize, pathLen: usize, host: usize, hostLen: usize): u32 {
  request.setPeer(principalLen >= 0, principal, principalLen >= 0 ? <usize>principalLen : 0);
  request.methodBit = methodBit;
  request.setPort(-1);
  request.requestPrincipalLen = -1;
  const params = policy ? (policy as Policy).pathParameters : 0;
  const p = normalizePath(path, pathLen, params);
  const h = p >= 0 ? normalizeHost(host, hostLen) : -1;
  if (h < 0) return 0;
  request.pathLen = <usize>p;
  request.hostLen = <usize>h;
  request.rawHostLen = hostLen;
  return 1;
}

/** Runs the decision n times (and the staged candidate's, in shadow, as the filter does); returns the last outcome (code*2 + allow). */
export function bench_decide(n: u32): u32 {
  const p = policy;
  if (p === null) return 0xffffffff;
  const c = p.candidate;
  if (c === null) for (let i: u32 = 0; i < n; i++) decide(p, request, live);
  else
    for (let i: u32 = 0; i < n; i++) {
      decide(p, request, live);
      decide(c, request, staged);
    }
  return live.code * 2 + (live.decision ? 1 : 0);
}
