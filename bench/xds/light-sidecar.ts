/**
 * A minimal ADS client for load generation: one TLS HTTP/2 connection and one gRPC stream per
 * simulated sidecar, on node:http2 directly. It decodes each response, then ACKs it, as Envoy does,
 * at a small fraction of a full grpc-js channel's cost per message, so 1,000 of them in one
 * process measure the control server rather than the load generator.
 */
import { type ClientHttp2Session, type ClientHttp2Stream, connect } from 'node:http2';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
} from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';

const ECDS = 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig';
const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService';

export interface LightTls {
  caPem: string;
  certPem: string;
  keyPem: string;
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
    this.stream.on('data', (chunk: Buffer) => {
      this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
      while (this.pending.length >= 5) {
        const len = this.pending.readUInt32BE(1);
        if (this.pending.length < 5 + len) break;
        const msg = this.pending.subarray(5, 5 + len);
        this.pending = this.pending.subarray(5 + len);
        if (transport === 'sotw') {
          const r = fromBinary(DiscoveryResponseSchema, msg);
          const ack = create(DiscoveryRequestSchema, {
            typeUrl: ECDS,
            resourceNames: names,
            versionInfo: r.versionInfo,
            responseNonce: r.nonce,
          });
          this.stream.write(frame(toBinary(DiscoveryRequestSchema, ack)));
        } else {
          const r = fromBinary(DeltaDiscoveryResponseSchema, msg);
          this.stream.write(
            frame(toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, { typeUrl: ECDS, responseNonce: r.nonce }))),
          );
        }
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
