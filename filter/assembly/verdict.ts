// What a policy decided for a request: the outcome decide() writes and the decision record,
// the counters and the reply read. The live policy and its staged candidate each have one.

// Outcome codes, as the reference evaluator's DecisionCode.
export const CODE_ALLOW: u32 = 0;
export const CODE_DENY_RULE: u32 = 1;
export const CODE_DENY_DEFAULT: u32 = 2;
export const CODE_DENY_UNSAFE: u32 = 3;

export class Verdict {
  /** true = allow. */
  decision: bool = false;
  /** The outcome is applied: a deny blocks, an allow comes from an enforced rule. */
  enforced: bool = false;
  code: u32 = CODE_DENY_DEFAULT;
  /** The deciding rule's index in the policy, or -1 for the default and unsafe requests. */
  ruleIndex: i32 = -1;
  mode: u8 = 0;
  /** The first audit rule that matched, and the allow rule staged behind an enforced default. */
  auditIndex: i32 = -1;
  stagedIndex: i32 = -1;
  /** The earliest matching rule of each kind, while the decision is made. */
  enforcedDeny: i32 = -1;
  writtenDeny: i32 = -1;
  enforcedAllow: i32 = -1;
  writtenAllow: i32 = -1;

  @inline start(): void {
    this.enforcedDeny = -1;
    this.writtenDeny = -1;
    this.enforcedAllow = -1;
    this.writtenAllow = -1;
    this.auditIndex = -1;
    this.stagedIndex = -1;
  }
}
