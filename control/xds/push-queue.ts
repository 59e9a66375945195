/**
 * Pushes after a snapshot change go through one FIFO, drained a slice at a time: a change that
 * touches 1,000 sidecars does not hold the event loop for all of them, so the first responses
 * reach the wire (and their ACKs come back) while the rest are still being built, and keep-alives
 * and new streams are served in between. Istio's push queue does the same (pushqueue.go).
 * A session already queued has its changed types merged, never queued twice.
 */
export type PushTarget = { push(changed: ReadonlySet<string>): void };

export class PushQueue {
  private readonly pending = new Map<PushTarget, Set<string>>();
  private scheduled = false;

  constructor(private readonly slice = 32) {}

  enqueue(target: PushTarget, changed: ReadonlySet<string>): void {
    const merged = this.pending.get(target);
    if (merged) for (const t of changed) merged.add(t);
    else this.pending.set(target, new Set(changed));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Forgets a target (its stream closed before its turn). */
  drop(target: PushTarget): void {
    this.pending.delete(target);
  }

  get size(): number {
    return this.pending.size;
  }

  private drain(): void {
    this.scheduled = false;
    let n = 0;
    for (const [target, changed] of this.pending) {
      if (n++ === this.slice) break;
      this.pending.delete(target);
      target.push(changed);
    }
    if (this.pending.size > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }
}
