/**
 * Envoy RBAC semantics, by an implementation that is not ours: `perimeter export rbac`'s
 * filters, encoded with Envoy's protos, decoded the way @grpc/grpc-js-xds decodes an RBAC
 * filter config (its proto-loader options and vendored Envoy API), and evaluated by its
 * `parseConfig` engine as an HTTP filter chain: the deny filter, then the allow filter. The
 * audit filter (LOG) never changes a decision and gRPC's engine does not take it.
 * The request is what Envoy's RBAC sees after the connection manager normalised the path and
 * stripped the port and a trailing dot from the authority.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fromJson, type JsonValue, toBinary } from '@bufbuild/protobuf';
import type { Metadata as GrpcMetadata } from '@grpc/grpc-js';
import type { PolicyRequest } from '../../contracts/request.js';
import { normalizePath } from '../../contracts/request-path.js';
import { RBAC_FILTER_NAMES } from '../../control/render/rbac.js';
import { envoyRegistry } from '../../control/render/registry.js';
import { RBACSchema } from '../../proto/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js';
import type { Engine, Verdict } from './engine.js';

const require = createRequire(import.meta.url);
const xdsMain = require.resolve('@grpc/grpc-js-xds');
const fromXds = createRequire(xdsMain);
const deps = join(dirname(xdsMain), '..', '..', 'deps');

interface UnifiedInfo {
  headers: GrpcMetadata;
  urlPath: string;
  destinationIp: string;
  destinationPort: number;
  tls: boolean;
  peerCertificate: { subjectaltname?: string; subject: Record<string, string> } | null;
  sourceIp: string;
}
interface PolicyGroup {
  apply(info: UnifiedInfo): boolean;
}

const { parseConfig } = fromXds('./rbac') as { parseConfig(rules: unknown): PolicyGroup };
const { Metadata } = fromXds('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
// The package's entry registers google/protobuf/descriptor.proto with protobufjs, as in grpc-js-xds.
fromXds('@grpc/proto-loader');
const { loadProtosWithOptionsSync } = fromXds('@grpc/proto-loader/build/src/util') as {
  loadProtosWithOptionsSync(
    files: string[],
    o: object,
  ): { lookup(name: string): { decode(b: Uint8Array): { $type: { toObject(m: unknown, o: object): unknown } } } };
};
// The options and include paths of grpc-js-xds's own RBAC filter (http-filter/rbac-filter.js).
const root = loadProtosWithOptionsSync(['envoy/extensions/filters/http/rbac/v3/rbac.proto'], {
  keepCase: true,
  includeDirs: ['xds', 'envoy-api', 'protoc-gen-validate', 'googleapis'].map((d) => join(deps, d)),
});
const RBAC_TYPE = root.lookup('envoy.extensions.filters.http.rbac.v3.RBAC');

/** One exported HttpFilter (Envoy JSON) → gRPC's policy group, or null for a pass-through filter. */
function groupOf(filter: Record<string, unknown>): PolicyGroup | null {
  const { '@type': _type, ...body } = filter.typed_config as Record<string, unknown>;
  const bytes = toBinary(RBACSchema, fromJson(RBACSchema, body as JsonValue, { registry: envoyRegistry }));
  const decoded = RBAC_TYPE.decode(bytes);
  const parsed = decoded.$type.toObject(decoded, { longs: String, enums: String, defaults: true, oneofs: true }) as { rules?: unknown };
  return parsed.rules ? parseConfig(parsed.rules) : null;
}

/** The authority after the connection manager's strip_any_host_port and strip_trailing_host_dot. */
function hcmHost(authority: string): string {
  let host = authority;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close > 0) host = host.slice(0, close + 1);
  } else if (host.includes(':')) host = host.slice(0, host.lastIndexOf(':'));
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

export interface RbacPrepared {
  info: UnifiedInfo | undefined;
}

export class EnvoyRbacEngine implements Engine<RbacPrepared> {
  private readonly chain: PolicyGroup[];

  constructor(filters: readonly Record<string, unknown>[]) {
    this.chain = filters
      .filter((f) => f.name !== RBAC_FILTER_NAMES.audit)
      .map(groupOf)
      .filter((g): g is PolicyGroup => g !== null);
  }

  prepare(req: PolicyRequest): RbacPrepared {
    // The connection manager rejects what it cannot normalise before any filter runs.
    const norm = normalizePath(req.path);
    if (!norm.ok) return { info: undefined };
    const headers = new Metadata();
    headers.set(':method', req.method);
    headers.set(':path', req.path);
    if (req.host !== undefined) headers.set(':authority', hcmHost(req.host));
    for (const [k, v] of Object.entries(req.headers ?? {})) for (const line of typeof v === 'string' ? [v] : v) headers.add(k, line);
    return {
      info: {
        headers,
        urlPath: norm.path,
        destinationIp: '127.0.0.1',
        destinationPort: req.port ?? 0,
        sourceIp: '127.0.0.1',
        tls: req.principal !== undefined,
        peerCertificate: req.principal === undefined ? null : { subjectaltname: `URI:${req.principal}`, subject: {} },
      },
    };
  }

  decide(p: RbacPrepared): Verdict {
    if (!p.info) return 'deny';
    for (const g of this.chain) if (!g.apply(p.info)) return 'deny';
    return 'allow';
  }
}
