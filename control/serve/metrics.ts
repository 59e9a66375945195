/** Prometheus metrics of the control server (prom-client), fed by xDS and publisher events. */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { shortType } from '../../contracts/type-urls.js';
import type { ServerEvents } from '../xds/server-options.js';
import type { PublisherHooks } from './publisher.js';

/** Loopback convergence is milliseconds; a slow sidecar can take seconds. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly streams = new Gauge({
    name: 'perimeter_xds_connected_streams',
    help: 'xDS streams bound to a sidecar',
    labelNames: ['transport', 'service'],
    registers: [this.registry],
  });
  private readonly pushes = new Counter({
    name: 'perimeter_xds_pushes_total',
    help: 'xDS responses sent',
    labelNames: ['type'],
    registers: [this.registry],
  });
  private readonly pushAck = new Histogram({
    name: 'perimeter_xds_push_ack_seconds',
    help: 'From a response being sent to its ACK',
    labelNames: ['type'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly convergence = new Histogram({
    name: 'perimeter_xds_convergence_seconds',
    help: 'From a snapshot being published to a sidecar ACKing it',
    labelNames: ['type'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly nacks = new Counter({
    name: 'perimeter_xds_nacks_total',
    help: 'Responses rejected by a sidecar',
    labelNames: ['type'],
    registers: [this.registry],
  });
  private readonly stale = new Counter({
    name: 'perimeter_xds_stale_nonces_total',
    help: 'Requests ignored for carrying a stale nonce',
    labelNames: ['type'],
    registers: [this.registry],
  });
  private readonly unserved = new Counter({
    name: 'perimeter_xds_unserved_type_requests_total',
    help: 'Requests for a resource type this server does not serve: answered with nothing, no state kept',
    registers: [this.registry],
  });
  private readonly refused = new Counter({
    name: 'perimeter_xds_refused_streams_total',
    help: 'Streams refused: unauthenticated, node_mismatch (node.id contradicts the certificate), too_many_streams (over the identity’s bound), bad_request',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly snapshot = new Gauge({
    name: 'perimeter_snapshot_info',
    help: 'The snapshot being served (value 1), by version and history sequence',
    labelNames: ['version', 'seq', 'origin'],
    registers: [this.registry],
  });
  private readonly workloads = new Gauge({
    name: 'perimeter_snapshot_workloads',
    help: 'Workloads in the snapshot being served',
    registers: [this.registry],
  });
  private readonly published = new Gauge({
    name: 'perimeter_snapshot_published_timestamp_seconds',
    help: 'When the snapshot being served was published',
    registers: [this.registry],
  });
  private readonly compile = new Histogram({
    name: 'perimeter_compile_seconds',
    help: 'Load, validate and compile of the policy directory',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers: [this.registry],
  });
  private readonly rejected = new Counter({
    name: 'perimeter_policy_changes_rejected_total',
    help: 'Policy changes rejected for errors (the last good snapshot kept serving)',
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  readonly xds: Partial<ServerEvents> = {
    connect: (s) => this.streams.inc({ transport: s.transport, service: s.service }),
    disconnect: (s) => this.streams.dec({ transport: s.transport, service: s.service }),
    push: (_s, type) => this.pushes.inc({ type: shortType(type) }),
    ack: (_s, type, _v, pushToAckMs, convergenceMs) => {
      this.pushAck.observe({ type: shortType(type) }, pushToAckMs / 1000);
      if (convergenceMs !== undefined) this.convergence.observe({ type: shortType(type) }, convergenceMs / 1000);
    },
    nack: (_s, type) => this.nacks.inc({ type: shortType(type) }),
    staleNonce: (_s, type) => this.stale.inc({ type: shortType(type) }),
    unservedType: () => this.unserved.inc(),
    refused: (reason) => this.refused.inc({ reason }),
  };

  readonly publisher: PublisherHooks = {
    compiled: (seconds) => this.compile.observe(seconds),
    rejected: () => this.rejected.inc(),
    published: (p) => {
      this.snapshot.reset();
      this.snapshot.set({ version: p.version, seq: String(p.seq ?? ''), origin: p.origin }, 1);
      this.workloads.set(p.workloads.length);
      this.published.set(p.at / 1000);
    },
  };

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
