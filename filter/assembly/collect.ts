// When garbage is collected. The module runs AssemblyScript's `minimal` runtime: no shadow
// stack on the request path (the incremental runtime's bookkeeping cost more than the decision
// itself) and no collection unless asked. The request path allocates nothing; garbage appears
// only when a policy is replaced or released, or the stream table grows. Collection then runs
// at the very end of an exported callback, when no managed reference is live on the Wasm stack:
// the same as a host calling __collect() between callbacks.

let due = false;

/** Something became unreachable: collect at the end of this or the next callback. */
export function garbageMade(): void {
  due = true;
}

/** Only ever the last statement of an exported callback. */
export function collectIfDue(): void {
  if (!due) return;
  due = false;
  __collect();
}
