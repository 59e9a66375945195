/**
 * Quarantine and release on a running control server: the identity is checked, the new list is
 * handed to the version source (which keeps it before anything is pushed, so a restart keeps the
 * quarantine), and the source lays it over every workload.
 */
import { reasonOf } from '../../contracts/problem.js';
import type { Logger } from '../xds/server-options.js';
import { AdminError } from './admin.js';
import { publishedSummary } from './published.js';
import { checkIdentity, type QuarantineEntry } from './quarantine.js';
import type { VersionSource } from './source.js';

export interface QuarantineChange {
  entry: QuarantineEntry;
  published: ReturnType<typeof publishedSummary> | undefined;
}

export class Containment {
  constructor(
    private readonly source: VersionSource,
    private readonly log: Logger,
    private readonly now: (() => number) | undefined,
  ) {}

  quarantine(identity: string, both: boolean, reason: string): Promise<QuarantineChange> {
    const bad = checkIdentity(identity);
    if (bad) throw new AdminError(400, bad);
    const entry: QuarantineEntry = { identity, both, reason, since: new Date(this.now?.() ?? Date.now()).toISOString() };
    return this.change('quarantine', entry, [...this.source.quarantine.filter((e) => e.identity !== identity), entry]);
  }

  release(identity: string): Promise<QuarantineChange> {
    const entry = this.source.quarantine.find((e) => e.identity === identity);
    if (!entry) throw new AdminError(404, `${identity} is not quarantined`);
    return this.change(
      'release',
      entry,
      this.source.quarantine.filter((e) => e !== entry),
    );
  }

  private async change(kind: 'quarantine' | 'release', entry: QuarantineEntry, list: QuarantineEntry[]): Promise<QuarantineChange> {
    const r = await this.source.setQuarantine({ kind, entry, list });
    if (!r.ok) throw new AdminError(503, reasonOf(r));
    const p = r.value;
    this.log.warn({ ...entry, version: p?.version }, kind === 'quarantine' ? 'identity quarantined' : 'quarantine released');
    return { entry, published: p ? publishedSummary(p) : undefined };
  }
}
