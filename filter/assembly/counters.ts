// The filter's counters, as Envoy stats: the decision totals, faults and rejected
// configurations, and one hit counter per rule (sent to the host in batches, on a tick).
import { ptrOf, utf8 } from "./bytes";
import { Installed } from "./contexts";
import * as host from "./host";
import { Policy } from "./policy";

/** Rules beyond this many share one overflow counter, so a large policy cannot flood stats. */
export const MAX_RULE_COUNTERS: i32 = 1024;

export let cAllowed: u32 = 0;
export let cDenied: u32 = 0;
export let cWouldDeny: u32 = 0;
export let cUnauthenticated: u32 = 0;
export let cConfigRejected: u32 = 0;
export let cHostFault: u32 = 0;
export let cCandidateDisagree: u32 = 0;
let cRuleOverflow: u32 = 0;

function counter(name: string): u32 {
  const b = utf8(name);
  return host.defineCounter(ptrOf(b), b.byteLength);
}

/** Defines the counters (Envoy returns the same id for a name defined again) and returns each rule's. */
export function defineCounters(policy: Policy): StaticArray<u32> {
  cAllowed = counter("perimeter.allowed");
  cDenied = counter("perimeter.denied");
  cWouldDeny = counter("perimeter.would_deny");
  cUnauthenticated = counter("perimeter.unauthenticated");
  cConfigRejected = counter("perimeter.config_rejected");
  cHostFault = counter("perimeter.host_fault");
  cRuleOverflow = counter("perimeter.rule.overflow.hits");
  cCandidateDisagree = counter("perimeter.candidate.disagree");
  const ids = new StaticArray<u32>(policy.rules.length);
  for (let i = 0; i < policy.rules.length; i++) {
    if (i >= MAX_RULE_COUNTERS) {
      ids[i] = cRuleOverflow;
      continue;
    }
    // perimeter.rule.<perimeter>.<rule>.hits
    const lab = Uint8Array.wrap(policy.rules[i].label);
    const head = utf8("perimeter.rule.");
    const tail = utf8(".hits");
    const name = new ArrayBuffer(head.byteLength + lab.length + tail.byteLength);
    const p = ptrOf(name);
    memory.copy(p, ptrOf(head), head.byteLength);
    for (let k = 0; k < lab.length; k++) store<u8>(p + head.byteLength + k, lab[k] == 0x2f ? 0x2e : lab[k]);
    memory.copy(p + head.byteLength + lab.length, ptrOf(tail), tail.byteLength);
    ids[i] = host.defineCounter(p, name.byteLength);
  }
  return ids;
}

/** Counts a configuration the filter refused (defining the counter first if nothing was ever configured). */
export function configRejected(): void {
  if (cConfigRejected == 0) cConfigRejected = counter("perimeter.config_rejected");
  host.incrementCounter(cConfigRejected, 1);
}

/** Sends the rule hits counted since the last flush. */
export function flushHits(installed: Installed | null): void {
  if (installed === null) return;
  const pending = installed.pendingHits;
  for (let i = 0; i < pending.length; i++) {
    const n = unchecked(pending[i]);
    if (n > 0) {
      host.incrementCounter(unchecked(installed.metricIds[i]), n);
      unchecked((pending[i] = 0));
    }
  }
}
