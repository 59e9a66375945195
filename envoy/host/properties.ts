/**
 * Property lookup as Envoy's Wasm context does it (context.cc getProperty / findValue, the CEL
 * attribute set): segments joined by NUL; strings raw, integers 8-byte LE, booleans 1 byte,
 * maps and lists as pairs; messages as protobuf (`metadata` whole is the Metadata message,
 * `xds.node` whole the Node message);
 * other whole objects are a SerializationFailure; a root context sees only
 * plugin_* and xds.*; request attributes from headers vanish once headers have continued.
 */
import { create, type JsonObject, toBinary } from '@bufbuild/protobuf';
import { MetadataSchema, NodeSchema } from '../../proto/gen/envoy/config/core/v3/base_pb.js';
import { WasmResult } from './enums.js';
import { knownName } from './interned.js';
import { serializePairs } from './pairs.js';

/** What Envoy knows about a stream besides its headers. */
export interface StreamInfo {
  connection?: {
    /** First URI SAN of the verified peer certificate; absent without a client certificate. */
    uriSanPeerCertificate?: string;
    uriSanLocalCertificate?: string;
    dnsSanPeerCertificate?: string;
    dnsSanLocalCertificate?: string;
    subjectPeerCertificate?: string;
    subjectLocalCertificate?: string;
    sha256PeerCertificateDigest?: string;
    tlsVersion?: string;
    requestedServerName?: string;
    /** A peer certificate was presented (and, by the listener's config, validated). */
    mtls?: boolean;
    id?: bigint;
  };
  source?: { address: string; port: number };
  destination?: { address: string; port: number };
  /** Dynamic metadata: filter_metadata namespace → Struct (e.g. envoy.filters.http.jwt_authn). */
  metadata?: Record<string, Record<string, unknown>>;
  protocol?: 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2' | 'HTTP/3';
  requestTimeNs?: bigint;
}

export interface PluginIdentity {
  name: string;
  rootId: string;
  vmId: string;
  nodeId?: string;
}

export interface PropertyScope {
  plugin: PluginIdentity;
  /** Undefined in a root context. */
  stream?:
    | {
        info: StreamInfo;
        /** Request headers while readable (undefined once they have continued). */
        requestHeaders?: readonly (readonly [string, string])[] | undefined;
        responseHeaders?: readonly (readonly [string, string])[] | undefined;
        filterState: { get(key: string): Uint8Array | undefined };
        responseCode?: number | undefined;
        responseCodeDetails?: string | undefined;
      }
    | undefined;
}

/** A string result is returned as text (encoded straight into module memory), others as bytes. */
export type Lookup = { status: number; value?: Uint8Array; text?: string };

const str = (s: string): Lookup => ({ status: WasmResult.Ok, text: s });
const int = (n: number | bigint): Lookup => {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(n));
  return { status: WasmResult.Ok, value: b };
};
const bool = (v: boolean): Lookup => ({ status: WasmResult.Ok, value: Buffer.from([v ? 1 : 0]) });
const NOT_FOUND: Lookup = { status: WasmResult.NotFound };
const WHOLE: Lookup = { status: WasmResult.SerializationFailure };

/** A Struct value the way serializeValue encodes it. */
function structValue(v: unknown): Lookup {
  if (typeof v === 'string') return str(v);
  if (typeof v === 'boolean') return bool(v);
  if (typeof v === 'number') {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    return { status: WasmResult.Ok, value: b };
  }
  if (Array.isArray(v)) return { status: WasmResult.Ok, value: serializePairs(v.map((e) => [encodeLeaf(e), ''] as const)) };
  if (v && typeof v === 'object')
    return { status: WasmResult.Ok, value: serializePairs(Object.entries(v).map(([k, e]) => [k, encodeLeaf(e)] as const)) };
  return NOT_FOUND;
}

function encodeLeaf(v: unknown): Uint8Array {
  const r = structValue(v);
  return r.text !== undefined ? Buffer.from(r.text) : (r.value ?? new Uint8Array());
}

function joinHeaders(headers: readonly (readonly [string, string])[], name: string): string | undefined {
  const values = headers.filter(([k]) => k === name).map(([, v]) => v);
  return values.length ? values.join(',') : undefined;
}

function requestAttribute(scope: PropertyScope, rest: string[]): Lookup {
  const s = scope.stream;
  if (!s) return NOT_FOUND;
  const [attr, ...more] = rest;
  if (attr === undefined) return WHOLE;
  if (attr === 'time') return s.info.requestTimeNs !== undefined ? int(s.info.requestTimeNs) : NOT_FOUND;
  if (attr === 'protocol') return s.info.protocol ? str(s.info.protocol) : NOT_FOUND;
  const h = s.requestHeaders;
  if (!h) return NOT_FOUND; // headers have continued: header-derived attributes are gone
  const get = (name: string) => joinHeaders(h, name);
  switch (attr) {
    case 'path':
      return get(':path') !== undefined ? str(get(':path') as string) : NOT_FOUND;
    case 'url_path': {
      const p = get(':path');
      return p !== undefined ? str(p.split('?')[0] as string) : NOT_FOUND;
    }
    case 'query': {
      const p = get(':path');
      if (p === undefined) return NOT_FOUND;
      const q = p.indexOf('?');
      return str(q < 0 ? '' : (p.slice(q + 1).split('#')[0] as string));
    }
    case 'host':
      return get(':authority') !== undefined ? str(get(':authority') as string) : NOT_FOUND;
    case 'scheme':
      return get(':scheme') !== undefined ? str(get(':scheme') as string) : NOT_FOUND;
    case 'method':
      return get(':method') !== undefined ? str(get(':method') as string) : NOT_FOUND;
    case 'referer':
      return get('referer') !== undefined ? str(get('referer') as string) : NOT_FOUND;
    case 'useragent':
      return get('user-agent') !== undefined ? str(get('user-agent') as string) : NOT_FOUND;
    case 'id':
      return get('x-request-id') !== undefined ? str(get('x-request-id') as string) : NOT_FOUND;
    case 'headers': {
      if (more.length === 0) {
        const names = [...new Set(h.map(([k]) => k))];
        return { status: WasmResult.Ok, value: serializePairs(names.map((n) => [n, get(n) as string] as const)) };
      }
      const v = get((more[0] as string).toLowerCase());
      return v !== undefined ? str(v) : NOT_FOUND;
    }
    default:
      return NOT_FOUND;
  }
}

function connectionAttribute(scope: PropertyScope, attr: string | undefined): Lookup {
  const c = scope.stream?.info.connection;
  if (attr === undefined) return WHOLE;
  const tls = c?.tlsVersion !== undefined;
  switch (attr) {
    case 'mtls':
      return bool(Boolean(c?.mtls));
    case 'uri_san_peer_certificate':
      return c?.uriSanPeerCertificate !== undefined ? str(c.uriSanPeerCertificate) : NOT_FOUND;
    case 'uri_san_local_certificate':
      return c?.uriSanLocalCertificate !== undefined ? str(c.uriSanLocalCertificate) : NOT_FOUND;
    case 'dns_san_peer_certificate':
      return c?.dnsSanPeerCertificate !== undefined ? str(c.dnsSanPeerCertificate) : NOT_FOUND;
    case 'dns_san_local_certificate':
      return c?.dnsSanLocalCertificate !== undefined ? str(c.dnsSanLocalCertificate) : NOT_FOUND;
    case 'subject_peer_certificate':
      return tls ? str(c?.subjectPeerCertificate ?? '') : NOT_FOUND;
    case 'subject_local_certificate':
      return tls ? str(c?.subjectLocalCertificate ?? '') : NOT_FOUND;
    case 'sha256_peer_certificate_digest':
      return c?.sha256PeerCertificateDigest ? str(c.sha256PeerCertificateDigest) : NOT_FOUND;
    case 'tls_version':
      return tls ? str(c?.tlsVersion as string) : NOT_FOUND;
    case 'requested_server_name':
      return str(c?.requestedServerName ?? '');
    case 'id':
      return int(c?.id ?? 0n);
    default:
      return NOT_FOUND;
  }
}

function address(a: { address: string; port: number } | undefined, attr: string | undefined): Lookup {
  if (!a) return NOT_FOUND;
  if (attr === undefined) return WHOLE;
  if (attr === 'address') return str(a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
  if (attr === 'port') return int(a.port);
  return NOT_FOUND;
}

/** The whole of a stream's dynamic metadata: Envoy serialises the envoy.config.core.v3.Metadata message. */
function wholeMetadata(md: StreamInfo['metadata']): Lookup {
  try {
    const message = create(MetadataSchema, { filterMetadata: (md ?? {}) as Record<string, JsonObject> });
    return { status: WasmResult.Ok, value: toBinary(MetadataSchema, message) };
  } catch {
    // A value a Struct cannot hold (Envoy's metadata never has one).
    return WHOLE;
  }
}

function metadata(scope: PropertyScope, rest: string[]): Lookup {
  const md = scope.stream?.info.metadata;
  if (rest.length === 0) return wholeMetadata(md);
  if (rest[0] !== 'filter_metadata') return NOT_FOUND;
  let v: unknown = md ?? {};
  for (const seg of rest.slice(1)) {
    if (v === null || typeof v !== 'object') return NOT_FOUND;
    if (Array.isArray(v)) {
      if (!/^\d+$/.test(seg)) return NOT_FOUND;
      v = v[Number(seg)];
    } else v = (v as Record<string, unknown>)[seg];
    if (v === undefined) return NOT_FOUND;
  }
  return structValue(v);
}

/** The path of connection.uri_san_peer_certificate, as the module passes it. */
export const URI_SAN_PEER = knownName('connection\0uri_san_peer_certificate');

export function lookupProperty(scope: PropertyScope, path: string): Lookup {
  const segs = path.split('\0');
  if (segs.length > 1 && segs[segs.length - 1] === '') segs.pop(); // a trailing NUL is harmless
  const [head, ...rest] = segs;
  const p = scope.plugin;
  switch (head) {
    case 'plugin_name':
      return str(p.name);
    case 'plugin_root_id':
      return str(p.rootId);
    case 'plugin_vm_id':
      return str(p.vmId);
    case 'xds':
      if (rest[0] === 'node' && rest[1] === 'id' && p.nodeId !== undefined) return str(p.nodeId);
      // The whole node is the envoy.config.core.v3.Node message, serialised as Envoy does
      // (this host knows the node's id; Envoy's also carries cluster, locality and build).
      if (rest[0] === 'node' && rest.length === 1)
        return { status: WasmResult.Ok, value: toBinary(NodeSchema, create(NodeSchema, { id: p.nodeId ?? '' })) };
      return rest.length === 0 ? WHOLE : NOT_FOUND;
  }
  if (!scope.stream) return NOT_FOUND;
  const s = scope.stream;
  switch (head) {
    case 'connection':
      return connectionAttribute(scope, rest[0]);
    case 'connection_id':
      return int(s.info.connection?.id ?? 0n);
    case 'source':
      return address(s.info.source, rest[0]);
    case 'destination':
      return address(s.info.destination, rest[0]);
    case 'request':
      return requestAttribute(scope, rest);
    case 'response': {
      if (rest[0] === undefined) return WHOLE;
      if (rest[0] === 'code') return s.responseCode !== undefined ? int(s.responseCode) : NOT_FOUND;
      if (rest[0] === 'code_details') return s.responseCodeDetails !== undefined ? str(s.responseCodeDetails) : NOT_FOUND;
      if (rest[0] === 'headers' && s.responseHeaders) {
        const v = rest[1] !== undefined ? joinHeaders(s.responseHeaders, rest[1].toLowerCase()) : undefined;
        return v !== undefined ? str(v) : NOT_FOUND;
      }
      return NOT_FOUND;
    }
    case 'metadata':
      return metadata(scope, rest);
    case 'filter_state': {
      const v = rest[0] !== undefined ? s.filterState.get(rest[0]) : undefined;
      return v ? { status: WasmResult.Ok, value: v } : NOT_FOUND;
    }
    default: {
      // Filter state written by proxy_set_property is readable back as wasm.<path>.
      const v = s.filterState.get(`wasm.${path}`);
      return v ? { status: WasmResult.Ok, value: v } : NOT_FOUND;
    }
  }
}
