/**
 * A minimal ADS client for load generation: one TLS HTTP/2 connection and one gRPC stream per
 * simulated sidecar, on node:http2 directly. It reads each response's version and nonce, checks
 * it carries a resource, and ACKs it, as Envoy does, at a small fraction of a full client's cost
 * per message: 1,000 of them share this machine's two cores with the servers they measure, so
 * every microsecond spent here is taken from the control plane under test. The resources
 * themselves are skipped, not decoded (the xDS and host tests decode and load them).
 */
import { type ClientHttp2Session, type ClientHttp2Stream, connect } from 'node:http2';
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { DeltaDiscoveryRequestSchema, DiscoveryRequestSchema } from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';

const ECDS = 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig';
const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService';

export interface LightTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** Field numbers from discovery.proto. */
const SOTW = { version: 1, resource: 2, nonce: 5 } as const;
const DELTA = { resource: 2, nonce: 5, removed: 6 } as const;

/** The top-level fields a response is ACKed with; anything else is skipped undecoded. */
function skim(msg: Uint8Array, fields: { version?: number; resource: number; nonce: number; removed?: number }) {
  const r = new BinaryReader(msg);
  let version = '';
  let nonce = '';
  let entries = 0;
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === fields.version && wt === WireType.LengthDelimited) version = r.string();
    else if (no === fields.nonce && wt === WireType.LengthDelimited) nonce = r.string();
    else {
      if (no === fields.resource || no === fields.removed) entries++;
      r.skip(wt, no);
    }
  }
  if (nonce === '' || entries === 0) throw new Error('an xDS response without a nonce or a resource');
  return { version, nonce };
}

function frame(bytes: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(5 + bytes.length);
  b[0] = 0;
  b.writeUInt32BE(bytes.length, 1);
  b.set(bytes, 5);
  return b;
}

export class LightSidecar {
  private readonly session: ClientHttp2Session;
  private readonly stream: ClientHttp2Stream;
  private pending: Buffer = Buffer.alloc(0);
  updates = 0;

  constructor(port: number, nodeId: string, tls: LightTls, transport: 'sotw' | 'delta', onUpdate: () => void) {
    this.session = connect(`https://127.0.0.1:${port}`, {
      ca: tls.caPem,
      cert: tls.certPem,
      key: tls.keyPem,
      servername: 'perimeter-control',
      checkServerIdentity: () => undefined,
    });
    this.session.on('error', () => {});
    this.stream = this.session.request({
      ':method': 'POST',
      ':path': `${ADS}/${transport === 'sotw' ? 'StreamAggregatedResources' : 'DeltaAggregatedResources'}`,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    this.stream.on('error', () => {});
    const node = { id: nodeId };
    const names = ['perimeter.authz'];
    if (transport === 'sotw') {
      this.stream.write(
        frame(toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { node, typeUrl: ECDS, resourceNames: names }))),
      );
    } else {
      this.stream.write(
        frame(
          toBinary(
            DeltaDiscoveryRequestSchema,
            create(DeltaDiscoveryRequestSchema, { node, typeUrl: ECDS, resourceNamesSubscribe: names }),
          ),
        ),
      );
    }
    // What every ACK repeats (the type and the names) is encoded once; version and nonce follow it.
    const fixed =
      transport === 'sotw'
        ? toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { typeUrl: ECDS, resourceNames: names }))
        : toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, { typeUrl: ECDS }));
    const ack = (msg: Uint8Array): Uint8Array => {
      if (transport === 'sotw') {
        const r = skim(msg, SOTW);
        return new BinaryWriter()
          .raw(fixed)
          .tag(1, WireType.LengthDelimited)
          .string(r.version)
          .tag(5, WireType.LengthDelimited)
          .string(r.nonce)
          .finish();
      }
      return new BinaryWriter().raw(fixed).tag(6, WireType.LengthDelimited).string(skim(msg, DELTA).nonce).finish();
    };
    this.stream.on('data', (chunk: Buffer) => {
      this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
      while (this.pending.length >= 5) {
        const len = this.pending.readUInt32BE(1);
        if (this.pending.length < 5 + len) break;
        const msg = this.pending.subarray(5, 5 + len);
        this.pending = this.pending.subarray(5 + len);
        this.stream.write(frame(ack(msg)));
        this.updates++;
        onUpdate();
      }
    });
  }

  close(): void {
    this.stream.close();
    this.session.close();
  }
}
