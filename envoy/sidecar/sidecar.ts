/**
 * The local sidecar: what Envoy does for a workload, where no Envoy is installed. It takes its
 * policy over the same ECDS stream Envoy uses (ADS, with the workload's SVID), runs the module in
 * the Proxy-Wasm host for every inbound request, and keeps the last policy while the control
 * server is away; until the first policy arrives it denies everything. Outbound, it carries the
 * app's plain HTTP (1.1, or 2 with prior knowledge) to the destination's sidecar over HTTP/2 and
 * mTLS with the workload's SVID. Given a source of SVIDs, it renews its own before it expires,
 * without dropping a connection.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConnectionLimits } from '../../contracts/connection-limits.js';
import { RESOURCE_NAME } from '../../contracts/ecds.js';
import { TYPE } from '../../contracts/type-urls.js';
import { AlsClient } from '../../grpc/als-client.js';
import { ProxyWasmHost } from '../host/host.js';
import { accessEntry } from './access-entry.js';
import { startAdmin } from './admin.js';
import { type AccessRecord, type Inbound, startInbound } from './inbound.js';
import { JwtVerifier } from './jwt.js';
import { type Outbound, type OutboundPeer, startOutbound } from './outbound.js';
import { PolicyHolder } from './policy-holder.js';
import { SvidRenewer, type SvidSource, svidFacts, type TlsMaterial } from './svid.js';
import type { UpstreamProtocol } from './upstream.js';
import { XdsClient } from './xds-client.js';

export interface SidecarOptions {
  identity: string;
  /** host:port of the control server; with replicas, several, comma-separated (tried in turn). */
  control: string;
  /** The SPIFFE ID the control server must present; `spiffe://<td>` accepts any in the trust domain. */
  controlIdentity: string;
  tls: TlsMaterial;
  /** Where a renewed SVID comes from (absent: the SVID is never renewed). */
  renewSvid?: SvidSource;
  inboundPort: number;
  /** The app; HTTP/1.1 unless `protocol` is http2 (cleartext, prior knowledge: gRPC apps). */
  upstream: { host: string; port: number; protocol?: UpstreamProtocol };
  /** Benchmarks only (never a flag): the same sidecar with the module left out. */
  withoutFilter?: boolean;
  /** Bearer tokens verified against this JWKS, claims to the module as Envoy's jwt_authn does; `audiences` as its provider's. */
  jwt?: { jwksFile: string; issuer?: string; audiences?: readonly string[] };
  /** host:port (or several, comma-separated) of an Access Log Service to stream access entries to (absent: none). */
  als?: string;
  /** Inbound handshake, headers and idle timeouts and connection limit (absent: CONNECTION_LIMITS). */
  limits?: ConnectionLimits;
  /** Loopback admin port: /stats/prometheus, /ready (absent: none). */
  adminPort?: number;
  /** Loopback port for the app's outbound calls (absent: no outbound side). */
  outboundPort?: number;
  peers?: readonly OutboundPeer[];
  /** The Proxy-Wasm module, as Envoy's vm_config.code.local.filename. */
  wasm: string;
  resourceName?: string;
  transport?: 'sotw' | 'delta';
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  log?: (event: string, fields: Record<string, unknown>) => void;
  onRecord?: (r: AccessRecord) => void;
}

export class Sidecar {
  readonly policy: PolicyHolder;
  readonly xds: XdsClient;
  private inbound!: Inbound;
  private outbound: Outbound | undefined;
  private renewer: SvidRenewer | undefined;
  private readonly log: (event: string, fields: Record<string, unknown>) => void;
  private readonly identity: string;
  private readonly controlIdentity: string;
  /** The SVID this sidecar presents now. */
  tls: TlsMaterial;
  private admin: HttpServer | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private xdsConnected = false;
  readonly als: AlsClient | undefined;
  readonly host: ProxyWasmHost;

  private constructor(o: SidecarOptions) {
    const log = o.log ?? (() => {});
    this.log = log;
    this.identity = o.identity;
    this.controlIdentity = o.controlIdentity;
    this.tls = o.tls;
    const bytes = readFileSync(o.wasm);
    this.host = ProxyWasmHost.load(new Uint8Array(bytes), { vmId: 'perimeter', nodeId: o.identity, log: () => {} });
    const resourceName = o.resourceName ?? RESOURCE_NAME;
    this.policy = new PolicyHolder(this.host, resourceName, createHash('sha256').update(bytes).digest('hex'), (m) =>
      log('warning', { message: m }),
    );
    this.xds = new XdsClient({
      address: addressList(o.control),
      nodeId: o.identity,
      tls: { ...o.tls, serverId: o.controlIdentity },
      transport: o.transport ?? 'sotw',
      service: 'ads',
      ...(o.backoffBaseMs ? { backoffBaseMs: o.backoffBaseMs } : {}),
      ...(o.backoffMaxMs ? { backoffMaxMs: o.backoffMaxMs } : {}),
      validate: (_type, resources) => {
        for (const r of resources) {
          const err = this.policy.check(r.name, r.version, r.resource);
          if (err) return err;
        }
        return undefined;
      },
    });
    this.xds.on('update', (_type, held) => {
      const r = held.get(resourceName);
      this.policy.adopt(r?.version);
      log(r ? 'policy applied' : 'policy removed: denying everything', { version: this.policy.current?.policyVersion });
    });
    if (o.als)
      this.als = new AlsClient({
        address: addressList(o.als),
        nodeId: o.identity,
        logName: `perimeter/${o.identity}`,
        tls: { ...o.tls, serverId: o.controlIdentity },
      });
    this.xds.on('nack', (_type, message) => log('policy rejected', { message }));
    this.xds.on('disconnected', (s) => log('control server unreachable: keeping the last policy', { code: s.code, details: s.details }));
    this.xds.on('connected', () => {
      this.xdsConnected = true;
      log('connected to the control server', { control: this.xds.server });
    });
    this.xds.on('disconnected', () => {
      this.xdsConnected = false;
    });
  }

  static async start(o: SidecarOptions): Promise<Sidecar> {
    const s = new Sidecar(o);
    s.inbound = await startInbound(
      {
        tls: o.tls,
        upstream: o.upstream,
        policy: s.policy,
        ...(o.withoutFilter ? { withoutFilter: true } : {}),
        ...(o.limits ? { limits: o.limits } : {}),
        ...(o.jwt ? { jwt: JwtVerifier.fromFile(o.jwt.jwksFile, o.jwt.issuer, o.jwt.audiences) } : {}),
        onRecord: (r) => {
          s.als?.log(accessEntry(r));
          o.onRecord?.(r);
        },
      },
      o.inboundPort,
    );
    if (o.outboundPort !== undefined)
      s.outbound = await startOutbound(
        { tls: o.tls, peers: o.peers ?? [], ...(o.limits ? { sniffTimeoutMs: o.limits.headersTimeoutMs } : {}) },
        o.outboundPort,
      );
    if (o.renewSvid)
      s.renewer = new SvidRenewer(o.tls, o.identity, o.renewSvid, {
        renewed: (tls) => s.rotate(tls),
        failed: (message) =>
          s.log('svid renewal failed: keeping the current one', { message, notAfter: new Date(svidFacts(s.tls).notAfter).toISOString() }),
      });
    if (o.adminPort !== undefined)
      s.admin = await startAdmin(
        { prometheus: () => s.host.metrics.prometheus(), hasPolicy: () => s.policy.current !== undefined, connected: () => s.xdsConnected },
        o.adminPort,
      );
    // Envoy's dispatcher delivers proxy_on_tick; the filter flushes its counters there.
    s.ticker = setInterval(() => s.host.tick(), 200);
    s.ticker.unref();
    s.xds.subscribe(TYPE.extensionConfig, [o.resourceName ?? RESOURCE_NAME]);
    return s;
  }

  get inboundPort(): number {
    return this.inbound.port;
  }

  get outboundPort(): number | undefined {
    return this.outbound?.port;
  }

  get stats(): { inboundConnections: number } {
    return { inboundConnections: this.inbound.stats.connections };
  }

  /**
   * Presents `tls` from now on: on new inbound connections, new sessions to peers, and the
   * control server's and access log's next connections. What is open keeps its certificate.
   */
  rotate(tls: TlsMaterial): void {
    this.tls = tls;
    this.inbound.setTls(tls);
    this.outbound?.setTls(tls);
    this.xds.setTls({ ...tls, serverId: this.controlIdentity });
    this.als?.setTls({ ...tls, serverId: this.controlIdentity });
    const f = svidFacts(tls);
    this.log('svid renewed', { identity: this.identity, serial: f.serial, notAfter: new Date(f.notAfter).toISOString() });
  }

  /** Renews the SVID now (when a source of SVIDs was given). */
  async renewSvid(): Promise<void> {
    await this.renewer?.renew();
  }

  /** The xDS version of the policy in force, or undefined (denying everything). */
  get policyVersion(): string | undefined {
    return this.policy.current?.version;
  }

  get adminPort(): number | undefined {
    return (this.admin?.address() as AddressInfo | undefined)?.port;
  }

  async stop(): Promise<void> {
    clearInterval(this.ticker);
    this.renewer?.stop();
    this.als?.close();
    this.xds.close();
    // close() waits for connections in the middle of a request: end them all, or a stop
    // could wait for a half-sent body until the idle timeout.
    await this.inbound.close();
    await this.outbound?.close();
    const admin = this.admin;
    if (admin) {
      const closed = new Promise<void>((r) => admin.close(() => r()));
      admin.closeAllConnections();
      await closed;
    }
  }
}

const addressList = (list: string) =>
  list
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
