/**
 * Quarantine and release on a running control server: the list is on disk before anything is
 * pushed, so a restart keeps the quarantine, then the publisher lays it over every workload.
 */

import type { Logger } from '../xds/server-options.js';
import { AdminError } from './admin.js';
import { publishedSummary } from './published.js';
import type { Publisher } from './publisher.js';
import { checkIdentity, type QuarantineEntry, writeQuarantine } from './quarantine.js';

export interface QuarantineChange {
  entry: QuarantineEntry;
  published: ReturnType<typeof publishedSummary> | undefined;
}

export class Containment {
  constructor(
    private readonly state: string,
    private readonly publisher: Publisher,
    private readonly log: Logger,
    private readonly now: (() => number) | undefined,
  ) {}

  quarantine(identity: string, both: boolean, reason: string): QuarantineChange {
    const bad = checkIdentity(identity);
    if (bad) throw new AdminError(400, bad);
    const entry: QuarantineEntry = { identity, both, reason, since: new Date(this.now?.() ?? Date.now()).toISOString() };
    return this.change('quarantine', entry, [...this.publisher.quarantine.filter((e) => e.identity !== identity), entry]);
  }

  release(identity: string): QuarantineChange {
    const entry = this.publisher.quarantine.find((e) => e.identity === identity);
    if (!entry) throw new AdminError(404, `${identity} is not quarantined`);
    return this.change(
      'release',
      entry,
      this.publisher.quarantine.filter((e) => e !== entry),
    );
  }

  private change(kind: 'quarantine' | 'release', entry: QuarantineEntry, list: QuarantineEntry[]): QuarantineChange {
    writeQuarantine(this.state, list);
    const p = this.publisher.setQuarantine(list, { kind, entry });
    this.log.warn({ ...entry, version: p?.version }, kind === 'quarantine' ? 'identity quarantined' : 'quarantine released');
    return { entry, published: p ? publishedSummary(p) : undefined };
  }
}
