/**
 * `perimeter serve`: the policy directory, the history, the snapshot cache, the xDS server and
 * the admin endpoint, wired together. Owns start-up order (a snapshot exists before the first
 * stream is accepted) and shutdown (streams end cleanly, the state file goes away).
 */

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { DEFAULT_MODULE_PATH, type ModuleRef, RESOURCE_NAME } from '../../envoy/config/perimeter-filter.js';
import { type CaFiles, caDir, initCa, issueSvid, loadCa } from '../ca/ca.js';
import { eventOf, type FlowEvent } from '../flows/event.js';
import { FlowStore } from '../flows/store.js';
import { parseSpiffeId } from '../policy/spiffe.js';
import { type UiState, uiState } from '../ui/state.js';
import { SnapshotCache } from '../xds/cache.js';
import { type AccessLogBatch, type Logger, XdsServer } from '../xds/server.js';
import type { StreamInfo } from '../xds/session.js';
import { TYPE } from '../xds/types.js';
import { AdminError, startAdmin } from './admin.js';
import { createToken, tokenPath } from './admin-guard.js';
import { writeFileAtomic } from './atomic.js';
import { PolicyCompiler } from './compiler.js';
import { History, HistoryError } from './history.js';
import { ServerMetrics } from './metrics.js';
import { type Published, Publisher } from './publisher.js';
import { checkIdentity, type QuarantineEntry, readQuarantine, writeQuarantine } from './quarantine.js';
import { watchPaths } from './watch.js';

export const CONTROL_IDENTITY_PATH = '/ns/perimeter-system/sa/perimeter-control';
/** How long ALS batches gather before they are written to the flow store together. */
const FLOW_FLUSH_MS = 50;

export interface ControlServerOptions {
  policy: readonly string[];
  state: string;
  /** host:port of the xDS listener (port 0: any free port). */
  listen: string;
  /** host:port of the admin endpoint, or false for none. */
  admin: string | false;
  /**
   * The operator token that changes need (admin-guard.ts); absent: a new one is made at start in
   * `<state>/admin.token`. `adminTokenFile` says where the CLI finds a given one.
   */
  adminToken?: string;
  adminTokenFile?: string;
  /** Host names (besides IP literals and localhost) the admin endpoint answers to. */
  adminHosts?: readonly string[];
  insecure: boolean;
  debounceMs?: number;
  watch?: boolean;
  resourceName?: string;
  /** The module sidecars load: its path there and the local file whose sha256 names the VM. */
  modulePath?: string;
  moduleFile: string;
  log: Logger;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** Lifetime of the control server's own SVID; it is renewed at half of it. Default 24 h. */
  svidTtlMs?: number;
  now?: () => number;
  /** Most flows kept in `<state>/flows` (the least recently seen go first). */
  maxFlows?: number;
}

export interface SidecarStatus {
  stream: number;
  identity: string;
  workload: string | undefined;
  transport: string;
  service: string;
  peer: string;
  connectedAt: string;
  /** Policy version of the workload the sidecar last ACKed (if it is known). */
  ackedPolicy: string | undefined;
  /** Policy version the sidecar should have now. */
  currentPolicy: string | undefined;
  inSync: boolean;
  pushes: number;
  lastNack: { at: string; message: string; policy: string | undefined } | undefined;
  /** Requests for resource types this server does not serve (answered with nothing). */
  unservedRequests: number;
}

export interface StatusReport {
  server: { pid: number; xds: string; admin: string | undefined; secure: boolean; trustDomain: string | undefined; resourceName: string };
  snapshot:
    | { version: string; seq: number | undefined; origin: string; publishedAt: string; workloads: number; summary: string[] }
    | undefined;
  lastRejected: { at: string; errors: number; messages: string[] } | undefined;
  sidecars: SidecarStatus[];
  /** Identities denied across the mesh (perimeter quarantine). */
  quarantine: QuarantineEntry[];
  /** Access-log entries received over ALS: recorded as flows, or refused (with the last reason). */
  flows: { entries: number; recorded: number; refused: number; lastRefusal: string | undefined; stored: number; dropped: number };
}

/** Written to `<state>/server.json` while serving, so CLI commands can find the admin endpoint. */
export interface ServerFile {
  pid: number;
  xds: string;
  admin: string | undefined;
  /** Where the operator token for the admin endpoint's changes is (absent: no admin endpoint). */
  tokenFile?: string;
  startedAt: string;
}

export function serverFilePath(state: string): string {
  return join(state, 'server.json');
}

export function moduleRef(moduleFile: string, modulePath = DEFAULT_MODULE_PATH): ModuleRef {
  if (!existsSync(moduleFile)) throw new Error(`${moduleFile} does not exist: run npm run build`);
  return { filename: modulePath, sha256: createHash('sha256').update(readFileSync(moduleFile)).digest('hex') };
}

export class ControlServer {
  readonly cache: SnapshotCache;
  readonly metrics = new ServerMetrics();
  readonly publisher: Publisher;
  readonly history: History;
  private xds!: XdsServer;
  private flows!: FlowStore;
  private pendingFlows: FlowEvent[] = [];
  private flowFlush: NodeJS.Timeout | undefined;
  private uiCache: { at: number; state: UiState } | undefined;
  private readonly flowStats = { entries: 0, recorded: 0, refused: 0, lastRefusal: undefined as string | undefined };
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
  private renewal: NodeJS.Timeout | undefined;

  private constructor(private readonly opts: ControlServerOptions) {
    this.log = opts.log;
    this.cache = new SnapshotCache(opts.now);
    this.history = History.open(opts.state);
    if (this.history.recovered.length)
      this.log.warn({ files: this.history.recovered }, 'removed temporary history files left by an interrupted write');
    this.resourceName = opts.resourceName ?? RESOURCE_NAME;
    this.module = moduleRef(opts.moduleFile, opts.modulePath);
    this.publisher = new Publisher({
      paths: opts.policy,
      compile: (paths) => this.compiler.compile(paths),
      cache: this.cache,
      module: this.module,
      resourceName: this.resourceName,
      history: this.history,
      quarantine: readQuarantine(opts.state),
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
            { errors: r.errors, diagnostics: r.messages, serving: this.publisher.current?.version },
            'policy change rejected; the last good snapshot keeps serving',
          );
        },
      },
    });
  }

  static async start(opts: ControlServerOptions): Promise<ControlServer> {
    const s = new ControlServer(opts);
    await s.boot();
    return s;
  }

  private async boot(): Promise<void> {
    const o = this.opts;
    const first = await this.publisher.reload();
    if (!first.ok) {
      const restored = this.publisher.restoreLatest();
      if (restored)
        this.log.warn({ version: restored.version, seq: restored.seq }, 'policy has errors at start: serving the last good version');
      else this.log.error({}, 'policy has errors at start and there is no history: serving nothing (sidecars deny) until it is fixed');
    }
    this.trustDomain = this.trustDomainOf();
    const ca = o.insecure ? undefined : await this.meshCa();
    const tls = ca ? await this.serverTls(ca) : undefined;
    if (o.insecure) this.log.warn({}, 'xDS without TLS (--insecure): node.id is trusted as the sidecar identity; local development only');
    this.flows = FlowStore.open(o.state, o.maxFlows ? { maxFlows: o.maxFlows } : {});
    this.xds = new XdsServer({
      cache: this.cache,
      accessLogs: (batch) => this.recordFlows(batch),
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
      ...(o.now ? { now: o.now } : {}),
    });
    this.xdsPort = await this.xds.listen(o.listen);
    if (ca) this.scheduleRenewal(ca);
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
          versions: () => this.history.entries(),
          healthy: () => this.publisher.current !== undefined,
          rollback: (to) => {
            try {
              return summaryOf(this.publisher.rollback(to));
            } catch (e) {
              if (e instanceof HistoryError) throw new AdminError(404, e.message);
              throw e;
            }
          },
          quarantined: () => this.publisher.quarantine,
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
        () => void this.publisher.reload().catch((e) => this.log.error({ err: String((e as Error).stack ?? e) }, 'policy reload failed')),
      );
    const file: ServerFile = {
      pid: process.pid,
      ...this.addresses(),
      ...(tokenFile ? { tokenFile } : {}),
      startedAt: new Date().toISOString(),
    };
    writeFileAtomic(serverFilePath(o.state), `${JSON.stringify(file, null, 2)}\n`);
    this.log.info({ xds: file.xds, admin: file.admin, secure: !o.insecure, trustDomain: this.trustDomain }, 'control server ready');
  }

  private trustDomainOf(): string | undefined {
    if (existsSync(join(caDir(this.opts.state), 'trust-domain'))) return loadCa(this.opts.state).trustDomain;
    if (this.publisher.trustDomain) return this.publisher.trustDomain;
    const id = this.publisher.current?.workloads[0]?.identity;
    const parsed = id ? parseSpiffeId(id) : undefined;
    return parsed && typeof parsed !== 'string' ? parsed.trustDomain : undefined;
  }

  /** The mesh CA, created on first start as istiod does. */
  private async meshCa(): Promise<CaFiles> {
    if (existsSync(join(caDir(this.opts.state), 'ca.key.pem'))) return loadCa(this.opts.state);
    if (!this.trustDomain) throw new Error('no mesh CA and no valid policy to take the trust domain from: run perimeter ca init');
    const ca = await initCa(this.opts.state, this.trustDomain);
    this.log.warn({ dir: ca.dir, trustDomain: ca.trustDomain }, 'created a new mesh CA');
    return ca;
  }

  private svid(ca: CaFiles) {
    return issueSvid(ca, `spiffe://${ca.trustDomain}${CONTROL_IDENTITY_PATH}`, {
      ttlMs: this.opts.svidTtlMs ?? 24 * 3_600_000,
      dnsNames: ['localhost', 'perimeter-control'],
    });
  }

  private async serverTls(ca: CaFiles) {
    const svid = await this.svid(ca);
    return { caPem: ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem, trustDomain: ca.trustDomain };
  }

  /** The server's own SVID is short-lived too: renewed at half its lifetime, without a restart. */
  private scheduleRenewal(ca: CaFiles, delayMs = (this.opts.svidTtlMs ?? 24 * 3_600_000) / 2): void {
    this.renewal = setTimeout(() => {
      this.svid(ca).then(
        (svid) => {
          this.xds.rotate(svid.chainPem, svid.keyPem);
          this.log.info({ notAfter: svid.notAfter.toISOString() }, 'control server SVID renewed');
          this.scheduleRenewal(ca);
        },
        (e: Error) => {
          this.log.error({ err: e.message }, 'control server SVID renewal failed; retrying in a minute');
          this.scheduleRenewal(ca, Math.min(60_000, delayMs));
        },
      );
    }, delayMs);
    this.renewal.unref();
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

  /** An ALS batch from a sidecar: its workload is the one its certificate names, never what it claims. */
  private recordFlows(batch: AccessLogBatch): void {
    const w = this.publisher.current?.workloads.find((x) => x.identity === batch.identity);
    const destination = w?.name ?? batch.identity;
    const events: FlowEvent[] = [];
    for (const entry of batch.entries) {
      this.flowStats.entries++;
      const r = eventOf(entry, destination);
      if (r.ok) events.push(r.event);
      else {
        this.flowStats.refused++;
        this.flowStats.lastRefusal = `${batch.identity}: ${r.reason}`;
      }
    }
    for (const e of events) this.pendingFlows.push(e);
    // Batches from every sidecar are written together, in one transaction a little later, so
    // that a busy mesh's access logs never hold up a policy push on this event loop.
    this.flowFlush ??= setTimeout(() => this.flushFlows(), FLOW_FLUSH_MS);
  }

  private flushFlows(): void {
    clearTimeout(this.flowFlush);
    this.flowFlush = undefined;
    const events = this.pendingFlows;
    this.pendingFlows = [];
    if (events.length === 0) return;
    try {
      this.flows.record(events);
      this.flowStats.recorded += events.length;
    } catch (e) {
      // The store failing costs flows, never the policy stream.
      this.log.error({ err: (e as Error).message, lost: events.length }, 'flow store write failed');
    }
  }

  /** The web page's data, made at most once a second however many pages poll. */
  private uiData(): UiState {
    const now = Date.now();
    if (!this.uiCache || now - this.uiCache.at >= 1_000)
      this.uiCache = { at: now, state: uiState(this.status(), this.publisher.view, this.flows.query({})) };
    return this.uiCache.state;
  }

  /**
   * Denies every request from `identity` (and, with `both`, to its workload) on every sidecar.
   * The list is on disk before anything is pushed, so a restart keeps the quarantine.
   */
  quarantine(identity: string, both: boolean, reason: string): { entry: QuarantineEntry; published: unknown } {
    const bad = checkIdentity(identity);
    if (bad) throw new AdminError(400, bad);
    const entry: QuarantineEntry = { identity, both, reason, since: new Date(this.opts.now?.() ?? Date.now()).toISOString() };
    return this.changeQuarantine('quarantine', entry, [...this.publisher.quarantine.filter((e) => e.identity !== identity), entry]);
  }

  release(identity: string): { entry: QuarantineEntry; published: unknown } {
    const entry = this.publisher.quarantine.find((e) => e.identity === identity);
    if (!entry) throw new AdminError(404, `${identity} is not quarantined`);
    return this.changeQuarantine(
      'release',
      entry,
      this.publisher.quarantine.filter((e) => e !== entry),
    );
  }

  /** The list is on disk before anything is pushed. */
  private changeQuarantine(kind: 'quarantine' | 'release', entry: QuarantineEntry, list: QuarantineEntry[]) {
    writeQuarantine(this.opts.state, list);
    const p = this.publisher.setQuarantine(list, { kind, entry });
    this.log.warn({ ...entry, version: p?.version }, kind === 'quarantine' ? 'identity quarantined' : 'quarantine released');
    return { entry, published: p ? summaryOf(p) : undefined };
  }

  status(): StatusReport {
    const p = this.publisher.current;
    const byIdentity = new Map((p?.workloads ?? []).map((w) => [w.identity, w]));
    const iso = (t: number | undefined) => (t === undefined ? '' : new Date(t).toISOString());
    const sidecars = [...this.xds.streams.values()].map((s): SidecarStatus => {
      const t = s.types.get(TYPE.extensionConfig) ?? [...s.types.values()][0];
      const w = byIdentity.get(s.identity);
      const acked = t?.ackedVersion !== undefined ? this.policyOf.get(t.ackedVersion) : undefined;
      return {
        stream: s.id,
        identity: s.identity,
        workload: w?.name,
        transport: s.transport,
        service: s.service,
        peer: s.peer,
        connectedAt: iso(s.connectedAt),
        ackedPolicy: acked,
        currentPolicy: w?.version,
        inSync: acked !== undefined && acked === w?.version,
        pushes: t?.pushes ?? 0,
        lastNack: t?.lastNack
          ? { at: iso(t.lastNack.at), message: t.lastNack.message, policy: this.policyOf.get(t.lastNack.version) }
          : undefined,
        unservedRequests: s.refusedTypes,
      };
    });
    const r = this.publisher.lastRejected;
    return {
      server: {
        pid: process.pid,
        ...this.addresses(),
        secure: !this.opts.insecure,
        trustDomain: this.trustDomain,
        resourceName: this.resourceName,
      },
      snapshot: p
        ? { version: p.version, seq: p.seq, origin: p.origin, publishedAt: iso(p.at), workloads: p.workloads.length, summary: p.summary }
        : undefined,
      lastRejected: r ? { at: iso(r.at), errors: r.errors, messages: r.messages } : undefined,
      sidecars,
      quarantine: [...this.publisher.quarantine],
      flows: { ...this.flowStats, stored: this.flows?.size ?? 0, dropped: this.flows?.droppedFlows ?? 0 },
    };
  }

  async stop(): Promise<void> {
    clearTimeout(this.renewal);
    this.unwatch?.();
    await this.xds?.stop();
    if (this.flows) this.flushFlows();
    await this.flows?.close();
    await this.compiler.close();
    const admin = this.admin;
    if (admin) {
      // End open requests too: close() alone would wait for them.
      const closed = new Promise<void>((resolve) => admin.close(() => resolve()));
      admin.closeAllConnections();
      await closed;
    }
    const file = serverFilePath(this.opts.state);
    try {
      const f = JSON.parse(readFileSync(file, 'utf8')) as ServerFile;
      if (f.pid === process.pid) {
        rmSync(file, { force: true });
        // The token made at start dies with this server.
        if (this.opts.adminToken === undefined) rmSync(tokenPath(this.opts.state), { force: true });
      }
    } catch {
      // already gone
    }
    this.log.info({}, 'control server stopped');
  }
}

function summaryOf(p: Published) {
  return { version: p.version, seq: p.seq, origin: p.origin, workloads: p.workloads.length, summary: p.summary };
}
