/** Raw xDS streams over real gRPC on loopback, for tests that check the protocol message by message. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { create } from '@bufbuild/protobuf';
import { type Any, anyPack } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { uriSans } from '../../contracts/svid.js';
import { type CaFiles, initCa, issueSvid } from '../../control/ca/ca.js';
import { type XdsResource, xdsResource } from '../../control/xds/cache.js';
import { clientConstructor } from '../../grpc/codec.js';
import { TypedExtensionConfigSchema } from '../../proto/gen/envoy/config/core/v3/extension_pb.js';
import { AggregatedDiscoveryService } from '../../proto/gen/envoy/service/discovery/v3/ads_pb.js';
import {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
} from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import { ExtensionConfigDiscoveryService } from '../../proto/gen/envoy/service/extension/v3/config_discovery_pb.js';

export const TD = 'shop.example';
export const id = (sa: string) => `spiffe://${TD}/ns/shop/sa/${sa}`;

/** A resource of any type whose content is just its name and a payload string (type-agnostic tests). */
export function resource(name: string, payload = 'v1', typeUrl?: string): XdsResource {
  const any: Any = anyPack(
    TypedExtensionConfigSchema,
    create(TypedExtensionConfigSchema, { name, typedConfig: { typeUrl: 'x', value: Buffer.from(payload) } }),
  );
  if (typeUrl) any.typeUrl = typeUrl;
  return xdsResource(name, any);
}

export interface Pki {
  ca: CaFiles;
  server: { caPem: string; certPem: string; keyPem: string; trustDomain: string };
  client(identity: string): Promise<{ caPem: string; certPem: string; keyPem: string; serverId: string }>;
}

export async function pki(): Promise<Pki> {
  const ca = await initCa(mkdtempSync(join(tmpdir(), 'perimeter-xds-')), TD);
  const s = await issueSvid(ca, `spiffe://${TD}/ns/perimeter-system/sa/perimeter-control`);
  return {
    ca,
    server: { caPem: ca.certPem, certPem: s.chainPem, keyPem: s.keyPem, trustDomain: TD },
    async client(identity) {
      const c = await issueSvid(ca, identity);
      return { caPem: ca.certPem, certPem: c.chainPem, keyPem: c.keyPem, serverId: `spiffe://${TD}` };
    },
  };
}

export function credentials(tls?: { caPem: string; certPem: string; keyPem: string }): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(Buffer.from(tls.caPem), Buffer.from(tls.keyPem), Buffer.from(tls.certPem), {
    checkServerIdentity: (_host, cert) =>
      uriSans(cert).some((u) => u.startsWith(`spiffe://${TD}/`)) ? undefined : new Error('not our control server'),
  });
}

type Method = 'StreamAggregatedResources' | 'DeltaAggregatedResources' | 'StreamExtensionConfigs' | 'DeltaExtensionConfigs';

/** One bidi stream: write requests, await responses one at a time, or assert that none comes. */
export class RawStream<Req, Resp> {
  private readonly queue: Resp[] = [];
  private waiters: ((r: Resp) => void)[] = [];
  readonly status: Promise<grpc.StatusObject>;
  private readonly call: grpc.ClientDuplexStream<Req, Resp>;

  constructor(
    readonly client: grpc.Client,
    method: Method,
  ) {
    this.call = (client as unknown as Record<string, () => grpc.ClientDuplexStream<Req, Resp>>)[method]?.call(
      client,
    ) as grpc.ClientDuplexStream<Req, Resp>;
    this.call.on('data', (r: Resp) => {
      const w = this.waiters.shift();
      if (w) w(r);
      else this.queue.push(r);
    });
    this.call.on('error', () => {});
    this.status = new Promise((resolve) => this.call.on('status', resolve));
  }

  send(req: Req): void {
    this.call.write(req);
  }

  next(timeoutMs = 3_000): Promise<Resp> {
    const r = this.queue.shift();
    if (r) return Promise.resolve(r);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== on);
        reject(new Error(`no response within ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (x: Resp) => {
        clearTimeout(timer);
        resolve(x);
      };
      this.waiters.push(on);
    });
  }

  /** Resolves if nothing arrives for `ms`; rejects with what did arrive. */
  async nothing(ms = 300): Promise<void> {
    try {
      const r = await this.next(ms);
      throw Object.assign(new Error('unexpected response'), { response: r });
    } catch (e) {
      if ((e as Error).message.startsWith('no response')) return;
      throw e;
    }
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

const SNI = { 'grpc.ssl_target_name_override': 'perimeter-control' };
const ADS = clientConstructor(AggregatedDiscoveryService);
const ECDS = clientConstructor(ExtensionConfigDiscoveryService);

export function sotw(address: string, tls?: { caPem: string; certPem: string; keyPem: string }, ecds = false) {
  const client = new (ecds ? ECDS : ADS)(address, credentials(tls), tls ? SNI : {});
  const s = new RawStream<DiscoveryRequest, DiscoveryResponse>(client, ecds ? 'StreamExtensionConfigs' : 'StreamAggregatedResources');
  return Object.assign(s, {
    req: (init: MessageInitShape<typeof DiscoveryRequestSchema>) => s.send(create(DiscoveryRequestSchema, init)),
  });
}

export function delta(address: string, tls?: { caPem: string; certPem: string; keyPem: string }, ecds = false) {
  const client = new (ecds ? ECDS : ADS)(address, credentials(tls), tls ? SNI : {});
  const s = new RawStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(
    client,
    ecds ? 'DeltaExtensionConfigs' : 'DeltaAggregatedResources',
  );
  return Object.assign(s, {
    req: (init: MessageInitShape<typeof DeltaDiscoveryRequestSchema>) => s.send(create(DeltaDiscoveryRequestSchema, init)),
  });
}

/** Names of the resources in a SotW response (they are TypedExtensionConfigs in these tests). */
export function names(r: DiscoveryResponse): string[] {
  return r.resources.map((a) => {
    const b = a.value;
    return Buffer.from(b.subarray(2, 2 + (b[1] as number))).toString();
  });
}

/** Polls until `pred` holds (real sockets and timers: no fixed sleeps). */
export async function eventually(pred: () => boolean | Promise<boolean>, ms = 5_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
