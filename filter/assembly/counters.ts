// The filter's counters, as Envoy stats: the decision totals, faults and rejected
// configurations, and one hit counter per rule. The decision totals and the rule hits are
// counted here and sent to the host in batches (on the once-a-second tick, and when a policy is
// replaced or its root ends): a host call per request would cost Envoy more than the decision.
// Faults and rejected configurations are sent at once (rare, and what operators alert on).
import { ptrOf, utf8 } from "./bytes";
import { Installed } from "./contexts";
import * as host from "./host";
import { Policy } from "./policy";

/** Rules beyond this many share one overflow counter, so a large policy cannot flood stats. */
export const MAX_RULE_COUNTERS: i32 = 1024;

/** The decision totals, by index into the pending counts. */
export const ALLOWED: i32 = 0;
export const DENIED: i32 = 1;
export const WOULD_DENY: i32 = 2;
export const UNAUTHENTICATED: i32 = 3;
export const CANDIDATE_DISAGREE: i32 = 4;
const TOTALS: i32 = 5;
/** Counted since the last flush, and each total's metric id (0 until a policy defined them). */
const pendingTotals = new StaticArray<i64>(TOTALS);
const totalIds = new StaticArray<u32>(TOTALS);

export let cConfigRejected: u32 = 0;
export let cHostFault: u32 = 0;
let cRuleOverflow: u32 = 0;

/** One more request for a decision total. */
@inline export function count(total: i32): void {
  unchecked((pendingTotals[total] += 1));
}

/** Sends the decision totals counted since the last flush (kept while their counters are not defined yet). */
export function flushTotals(): void {
  for (let i = 0; i < TOTALS; i++) {
    const n = unchecked(pendingTotals[i]);
    const id = unchecked(totalIds[i]);
    if (n > 0 && id != 0) {
      host.incrementCounter(id, n);
      unchecked((pendingTotals[i] = 0));
    }
  }
}

function counter(name: string): u32 {
  const b = utf8(name);
  return host.defineCounter(ptrOf(b), b.byteLength);
}

/** Defines the counters (Envoy returns the same id for a name defined again) and returns each rule's. */
export function defineCounters(policy: Policy): StaticArray<u32> {
  totalIds[ALLOWED] = counter("perimeter.allowed");
  totalIds[DENIED] = counter("perimeter.denied");
  totalIds[WOULD_DENY] = counter("perimeter.would_deny");
  totalIds[UNAUTHENTICATED] = counter("perimeter.unauthenticated");
  cConfigRejected = counter("perimeter.config_rejected");
  cHostFault = counter("perimeter.host_fault");
  cRuleOverflow = counter("perimeter.rule.overflow.hits");
  totalIds[CANDIDATE_DISAGREE] = counter("perimeter.candidate.disagree");
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
