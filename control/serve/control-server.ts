import { rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { type ModuleRef, RESOURCE_NAME } from '../../contracts/ecds.js';
import { reasonOf } from '../../contracts/problem.js';
import { parseSpiffeId } from '../../contracts/spiffe.js';
import { TYPE } from '../../contracts/type-urls.js';
import { FlowStore } from '../flows/store.js';
import { SnapshotCache } from '../xds/cache.js';
import { XdsServer } from '../xds/server.js';
import type { Logger } from '../xds/server-options.js';
import type { StreamInfo } from '../xds/session.js';
import { AdminError, startAdmin } from './admin.js';
import { createToken, tokenPath } from './admin-guard.js';
import { PolicyCompiler } from './compiler.js';
import { Containment, type QuarantineChange } from './containment.js';
import { FileSource } from './file-source.js';
import { FlowIntake } from './flow-intake.js';
import { History } from './history.js';
import { ServerMetrics } from './metrics.js';
import { type Published, publishedSummary } from './published.js';
import { removeServerFile, type ServerFile, writeServerFile } from './server-file.js';
import { ServerIdentity } from './server-identity.js';
import { type ControlServerOptions, moduleRef } from './server-options.js';
import type { SourceParts, VersionSource } from './source.js';
import { EMPTY_FLOW_STATS, type StatusReport, statusReport } from './status.js';
import { type UiState, uiState } from './ui-state.js';
import { watchPaths } from './watch.js';

export class ControlServer {
  readonly cache: SnapshotCache;
  readonly metrics = new ServerMetrics();
  readonly source: VersionSource;
  private xds!: XdsServer;
  private intake: FlowIntake | undefined;
  private identity: ServerIdentity | undefined;
  private uiCache: { at: number; state: UiState } | undefined;
  private admin: Server | undefined;
  private readonly compiler = new PolicyCompiler();
  private unwatch: (() => void) | undefined;
  xdsPort = 0;
  adminPort: number | undefined;
  trustDomain: string | undefined;
  private readonly resourceName: string;
  private readonly module: ModuleRef;
  /** xDS set version → the workload policy version it carries, for `status`. */
  private readonly policyOf = new Map<string, string>();
  private readonly log: Logger;
  private readonly containment: Containment;

  private constructor(private readonly opts: ControlServerOptions) {
    this.log = opts.log;
    this.cache = new SnapshotCache(opts.now);
    this.resourceName = opts.resourceName ?? RESOURCE_NAME;
    this.module = moduleRef(opts.moduleFile, opts.modulePath);
    const parts: SourceParts = {
      paths: opts.policy,
      compile: (paths) => this.compiler.compile(paths),
      cache: this.cache,
      module: this.module,
      resourceName: this.resourceName,
      ...(opts.now ? { now: opts.now } : {}),
      hooks: {
        ...this.metrics.publisher,
        published: (p) => {
          this.metrics.publisher.published?.(p);
          this.remember(p);
          this.log.info(
            { version: p.version, seq: p.seq, origin: p.origin, workloads: p.workloads.length, changes: p.summary },
            p.origin === 'rollback' ? 'rolled back' : 'snapshot published',
          );
        },
        rejected: (r) => {
          this.metrics.publisher.rejected?.(r);
          this.log.warn(
            { errors: r.errors, diagnostics: r.messages, serving: this.source.current?.version },
            'policy change rejected; the last good snapshot keeps serving',
          );
        },
      },
    };
    this.source = opts.source ? opts.source(parts) : this.fileSource(parts);
    this.containment = new Containment(this.source, this.log, opts.now);
  }

  static async start(opts: ControlServerOptions): Promise<ControlServer> {
    const s = new ControlServer(opts);
    try {
      await s.boot();
    } catch (e) {
      // Nothing started is left behind: the source's leases, the compile worker, the listeners.
      await s.stop().catch(() => {});
      throw e;
    }
    return s;
  }

  private async boot(): Promise<void> {
    const o = this.opts;
    await this.source.start();
    this.trustDomain = this.trustDomainOf();
    if (!o.insecure) {
      const { ca, created } = await this.source.ca(this.trustDomain);
      if (created) this.log.warn({ dir: ca.dir, trustDomain: ca.trustDomain }, 'created a new mesh CA');
      this.trustDomain = ca.trustDomain;
      this.identity = new ServerIdentity(ca, this.log, o.svidTtlMs);
    }
    const tls = await this.identity?.tls();
    if (o.insecure) this.log.warn({}, 'xDS without TLS (--insecure): node.id is trusted as the sidecar identity; local development only');
    const intake = new FlowIntake(
      FlowStore.open(o.state, o.maxFlows ? { maxFlows: o.maxFlows } : {}),
      this.log,
      (identity) => this.source.current?.workloads.find((x) => x.identity === identity)?.name ?? identity,
    );
    this.intake = intake;
    this.xds = new XdsServer({
      cache: this.cache,
      accessLogs: (batch) => intake.record(batch),
      ...(tls ? { tls } : {}),
      events: {
        ...this.metrics.xds,
        nack: (st, type, nack) => {
          this.metrics.xds.nack?.(st, type, nack);
          this.log.warn(
            { node: st.identity, stream: st.id, type, rejected: this.policyOf.get(nack.version) ?? nack.version, error: nack.message },
            'sidecar NACKed',
          );
        },
      },
      log: this.log,
      controlPlaneId: `perimeter@${process.pid}`,
      ...(o.keepaliveTimeMs ? { keepaliveTimeMs: o.keepaliveTimeMs } : {}),
      ...(o.keepaliveTimeoutMs ? { keepaliveTimeoutMs: o.keepaliveTimeoutMs } : {}),
      ...(o.maxStreamsPerIdentity ? { maxStreamsPerIdentity: o.maxStreamsPerIdentity } : {}),
      ...(o.now ? { now: o.now } : {}),
    });
    this.xdsPort = await this.xds.listen(o.listen);
    this.identity?.renewEvery((cert, key) => this.xds.rotate(cert, key));
    let tokenFile: string | undefined;
    if (o.admin !== false) {
      const token = o.adminToken ?? createToken(o.state);
      tokenFile = o.adminToken !== undefined ? o.adminTokenFile : tokenPath(o.state);
      const a = await startAdmin(
        o.admin,
        {
          metrics: () => this.metrics.text(),
          metricsContentType: this.metrics.registry.contentType,
          status: () => this.status(),
          versions: () => this.source.versions(),
          healthy: () => this.source.current !== undefined,
          rollback: async (to) => {
            const r = await this.source.rollback(to);
            if (!r.ok) throw new AdminError(404, reasonOf(r));
            return publishedSummary(r.value);
          },
          quarantined: () => this.source.quarantine,
          quarantine: (identity, both, reason) => this.quarantine(identity, both, reason),
          release: (identity) => this.release(identity),
          ui: () => this.uiData(),
        },
        { token, hosts: o.adminHosts ?? [] },
      );
      this.admin = a.server;
      this.adminPort = a.port;
    }
    if (o.watch !== false)
      this.unwatch = watchPaths(
        o.policy,
        { debounceMs: o.debounceMs ?? 100, onError: (e) => this.log.error({ err: e.message }, 'watch failed') },
        () => void this.source.reload().catch((e) => this.log.error({ err: String((e as Error).stack ?? e) }, 'policy reload failed')),
      );
    const file: ServerFile = {
      pid: process.pid,
      ...this.addresses(),
      ...(tokenFile ? { tokenFile } : {}),
      ...(o.storeRef ? { store: o.storeRef } : {}),
      startedAt: new Date().toISOString(),
    };
    writeServerFile(o.state, file);
    this.source.registerStatus?.(
      () => this.status(),
      () => this.xds.changes,
    );
    this.log.info({ xds: file.xds, admin: file.admin, secure: !o.insecure, trustDomain: this.trustDomain }, 'control server ready');
  }

  private fileSource(parts: SourceParts): FileSource {
    const history = History.open(this.opts.state);
    if (history.recovered.length)
      this.log.warn({ files: history.recovered }, 'removed temporary history files left by an interrupted write');
    return new FileSource(this.opts.state, history, parts, this.log);
  }

  /** The trust domain of the policy (or of what is served), for a CA made at first start. */
  private trustDomainOf(): string | undefined {
    if (this.source.trustDomain) return this.source.trustDomain;
    const id = this.source.current?.workloads[0]?.identity;
    const parsed = id ? parseSpiffeId(id) : undefined;
    return parsed?.ok ? parsed.value.trustDomain : undefined;
  }

  private remember(p: Published): void {
    if (this.policyOf.size > 100_000) this.policyOf.clear();
    for (const w of p.workloads) {
      const v = this.cache.get(w.identity, TYPE.extensionConfig)?.version;
      if (v) this.policyOf.set(v, w.version);
    }
  }

  /** Where the listeners ended up (port 0 in the options means any free port). */
  private addresses(): { xds: string; admin: string | undefined } {
    const host = (address: string) => address.replace(/:\d+$/, '');
    return {
      xds: `${host(this.opts.listen)}:${this.xdsPort}`,
      admin: this.adminPort !== undefined && this.opts.admin !== false ? `${host(this.opts.admin)}:${this.adminPort}` : undefined,
    };
  }

  get streams(): ReadonlyMap<number, StreamInfo> {
    return this.xds.streams;
  }

  get xdsServer(): XdsServer {
    return this.xds;
  }

  /** The web page's data, made at most once a second however many pages poll. */
  private uiData(): UiState {
    const now = Date.now();
    if (!this.uiCache || now - this.uiCache.at >= 1_000)
      this.uiCache = { at: now, state: uiState(this.status(), this.source.view, this.intake?.store.query({}) ?? []) };
    return this.uiCache.state;
  }

  /** Denies every request from `identity` (and, with `both`, to its workload) on every sidecar. */
  quarantine(identity: string, both: boolean, reason: string): Promise<QuarantineChange> {
    return this.containment.quarantine(identity, both, reason);
  }

  release(identity: string): Promise<QuarantineChange> {
    return this.containment.release(identity);
  }

  status(): StatusReport {
    return statusReport({
      server: {
        pid: process.pid,
        ...this.addresses(),
        secure: !this.opts.insecure,
        trustDomain: this.trustDomain,
        resourceName: this.resourceName,
        ...(this.source.role ? { replica: this.source.role } : {}),
      },
      published: this.source.current,
      rejected: this.source.lastRejected,
      streams: this.xds.streams.values(),
      policyOf: this.policyOf,
      quarantine: this.source.quarantine,
      flows: this.intake?.stats() ?? EMPTY_FLOW_STATS,
      ...(this.source.replicas ? { replicas: this.source.replicas } : {}),
    });
  }

  async stop(): Promise<void> {
    this.identity?.stop();
    this.unwatch?.();
    await this.source.stop();
    await this.xds?.stop();
    await this.intake?.close();
    await this.compiler.close();
    const admin = this.admin;
    if (admin) {
      // End open requests too: close() alone would wait for them.
      const closed = new Promise<void>((resolve) => admin.close(() => resolve()));
      admin.closeAllConnections();
      await closed;
    }
    // The token made at start dies with this server.
    if (removeServerFile(this.opts.state) && this.opts.adminToken === undefined) rmSync(tokenPath(this.opts.state), { force: true });
    this.log.info({}, 'control server stopped');
  }
}
