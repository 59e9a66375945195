// The root contexts' lifecycle: on_configure decodes the CompiledPolicy bytes into a new table
// and swaps it in with one assignment (the previous one keeps serving when the bytes are bad);
// ticks and the end of a root send the rule hits counted meanwhile.
import { BufferType, LogLevel, Status } from "./abi";
import { ptrOf } from "./bytes";
import { garbageMade } from "./collect";
import * as contexts from "./contexts";
import { configRejected, defineCounters, flushHits, flushTotals } from "./counters";
import * as host from "./host";
import { policyFromJson } from "./json-config";
import { decodePolicy } from "./decode";
import { Request } from "./request";

export const MAX_CLAIMS: i32 = 32;

export function onContextCreate(id: u32, parent: u32): void {
  if (parent == 0) {
    contexts.addRoot(id);
    return;
  }
  const root = contexts.rootOf(parent);
  contexts.putStream(id, root ? root.installed : null);
}

/** Decodes and installs the plugin configuration; `request` is made room for the new tables. */
export function onConfigure(rootId: u32, size: u32, request: Request): bool {
  const root = contexts.rootOf(rootId);
  if (!root) return false;
  const status = host.getBufferBytes(BufferType.PluginConfiguration, size);
  const ptr = host.hostPtr;
  const len = host.hostSize;
  if (status != Status.Ok || len == 0) {
    host.release(ptr);
    return reject("no plugin configuration (the CompiledPolicy bytes)");
  }
  let pool = new ArrayBuffer(<i32>len);
  memory.copy(ptrOf(pool), ptr, len);
  host.release(ptr);
  if (pool.byteLength > 0 && load<u8>(ptrOf(pool)) == 0x7b) {
    // JSON: Istio's WasmPlugin pluginConfig, {"policy": "<base64>"}.
    const decoded = policyFromJson(pool);
    if (decoded === null) return reject("JSON configuration without a base64 \"policy\" (the CompiledPolicy bytes)");
    pool = decoded;
  }
  const policy = decodePolicy(pool);
  if (policy === null) return reject("malformed CompiledPolicy or unknown format version");
  if (policy.claims.length > MAX_CLAIMS) return reject("the policy reads more than 32 claims");
  request.reserveFor(policy);
  flushHits(root.installed);
  flushTotals();
  const installed = new contexts.Installed(policy, defineCounters(policy));
  // Counted before any policy defined the totals' counters (requests refused for want of one).
  flushTotals();
  // The swap: streams created from now on see the new policy; streams in flight keep theirs.
  const previous = root.installed;
  if (previous) previous.retired = true;
  root.installed = installed;
  garbageMade();
  host.setTickPeriod(1000);
  host.log(LogLevel.Info, "perimeter: policy " + String.UTF8.decodeUnsafe(policy.versionPtr, policy.versionLen) + " applied, " + policy.rules.length.toString() + " rules");
  return true;
}

function reject(why: string): bool {
  configRejected();
  host.log(LogLevel.Error, "perimeter: configuration rejected, previous policy kept: " + why);
  return false;
}

export function onTick(rootId: u32): void {
  const root = contexts.rootOf(rootId);
  if (root) flushHits(root.installed);
  flushTotals();
}

export function onDone(id: u32): bool {
  const root = contexts.rootOf(id);
  if (root) {
    flushHits(root.installed);
    flushTotals();
  }
  return true;
}

export function onDelete(id: u32): void {
  if (contexts.getStream(id)) contexts.deleteStream(id);
  else contexts.removeRoot(id);
}
