/**
 * One control server's own versions, in its state directory: the publisher compiles the policy
 * paths and serves them, the history and the quarantine list are files there, and so is the CA.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ok, type Result } from '../../contracts/problem.js';
import { type CaFiles, caDir, initCa, loadCa } from '../ca/ca.js';
import type { Logger } from '../xds/server-options.js';
import type { History, HistoryEntry } from './history.js';
import type { Published } from './published.js';
import { Publisher, type PublisherOptions } from './publisher.js';
import { readQuarantine, writeQuarantine } from './quarantine.js';
import type { QuarantineEdit, VersionSource } from './source.js';

export class FileSource implements VersionSource {
  readonly publisher: Publisher;
  readonly role = undefined;

  constructor(
    private readonly state: string,
    private readonly history: History,
    opts: Omit<PublisherOptions, 'history' | 'quarantine'>,
    private readonly log: Logger,
  ) {
    this.publisher = new Publisher({ ...opts, history, quarantine: readQuarantine(state) });
  }

  get current() {
    return this.publisher.current;
  }
  get lastRejected() {
    return this.publisher.lastRejected;
  }
  get quarantine() {
    return this.publisher.quarantine;
  }
  get view() {
    return this.publisher.view;
  }
  get trustDomain() {
    return this.publisher.trustDomain;
  }

  async start(): Promise<void> {
    const first = await this.publisher.reload();
    if (first.ok) return;
    const restored = this.publisher.restoreLatest();
    if (restored)
      this.log.warn({ version: restored.version, seq: restored.seq }, 'policy has errors at start: serving the last good version');
    else this.log.error({}, 'policy has errors at start and there is no history: serving nothing (sidecars deny) until it is fixed');
  }

  reload() {
    return this.publisher.reload();
  }

  async versions(): Promise<readonly HistoryEntry[]> {
    return this.history.entries();
  }

  async rollback(ref: string): Promise<Result<Published>> {
    return this.publisher.rollback(ref);
  }

  /** The list is on disk before anything is pushed, so a restart keeps the quarantine. */
  async setQuarantine(edit: QuarantineEdit): Promise<Result<Published | undefined>> {
    writeQuarantine(this.state, edit.list);
    return ok(this.publisher.setQuarantine(edit.list, edit));
  }

  /** The CA of the state directory, created on first start as istiod does. */
  async ca(trustDomain: string | undefined): Promise<{ ca: CaFiles; created: boolean }> {
    if (existsSync(join(caDir(this.state), 'ca.key.pem'))) return { ca: loadCa(this.state), created: false };
    if (!trustDomain) throw new Error('no mesh CA and no valid policy to take the trust domain from: run perimeter ca init');
    return { ca: await initCa(this.state, trustDomain), created: true };
  }

  async stop(): Promise<void> {}
}
