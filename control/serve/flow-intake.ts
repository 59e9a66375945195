/**
 * Access logs in, flows out: each ALS batch becomes flow events (entries that are not what the
 * filter and HTTP can produce are refused and counted) written to the flow store in batches.
 */

import { reasonOf } from '../../contracts/problem.js';
import { eventOf, type FlowEvent } from '../flows/event.js';
import type { FlowStore } from '../flows/store.js';
import type { AccessLogBatch } from '../xds/access-logs.js';
import type { Logger } from '../xds/server-options.js';
import type { FlowStats } from './status.js';

const FLUSH_MS = 50;

export class FlowIntake {
  private pending: FlowEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly counts = { entries: 0, recorded: 0, refused: 0, lastRefusal: undefined as string | undefined };

  constructor(
    readonly store: FlowStore,
    private readonly log: Logger,
    /** The workload a sidecar's certificate names, never what the sidecar claims. */
    private readonly destinationOf: (identity: string) => string,
  ) {}

  record(batch: AccessLogBatch): void {
    const destination = this.destinationOf(batch.identity);
    for (const entry of batch.entries) {
      this.counts.entries++;
      const r = eventOf(entry, destination);
      if (r.ok) this.pending.push(r.value);
      else {
        this.counts.refused++;
        this.counts.lastRefusal = `${batch.identity}: ${reasonOf(r)}`;
      }
    }
    // Batches from every sidecar are written together, in one transaction a little later, so
    // that a busy mesh's access logs never hold up a policy push on this event loop.
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const events = this.pending;
    this.pending = [];
    if (events.length === 0) return;
    try {
      this.store.record(events);
      this.counts.recorded += events.length;
    } catch (e) {
      // The store failing costs flows, never the policy stream.
      this.log.error({ err: (e as Error).message, lost: events.length }, 'flow store write failed');
    }
  }

  stats(): FlowStats {
    return { ...this.counts, stored: this.store.size, dropped: this.store.droppedFlows };
  }

  async close(): Promise<void> {
    this.flush();
    await this.store.close();
  }
}
