/**
 * Strict parsing of Envoy configuration (YAML or JSON) into Envoy's own proto types, with a
 * type registry of the Envoy API we generate (proto/gen/envoy): an unknown field, an unknown
 * `@type` or a bad enum value is an error. This checks structure, not Envoy's PGV rules
 * (required fields, ranges): `envoy --mode validate` remains the authority where Envoy runs.
 */
import { createRegistry, type DescMessage, fromJson, type JsonValue, type MessageShape } from '@bufbuild/protobuf';
import {
  file_google_protobuf_any,
  file_google_protobuf_duration,
  file_google_protobuf_struct,
  file_google_protobuf_wrappers,
} from '@bufbuild/protobuf/wkt';
import { parse } from 'yaml';
import { fail, ok, type Result } from '../../contracts/problem.js';
import { file_envoy_config_bootstrap_v3_bootstrap } from '../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';
import { file_envoy_extensions_access_loggers_file_v3_file } from '../../proto/gen/envoy/extensions/access_loggers/file/v3/file_pb.js';
import { file_envoy_extensions_access_loggers_grpc_v3_als } from '../../proto/gen/envoy/extensions/access_loggers/grpc/v3/als_pb.js';
import { file_envoy_extensions_filters_http_jwt_authn_v3_config } from '../../proto/gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.js';
import { file_envoy_extensions_filters_http_rbac_v3_rbac } from '../../proto/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js';
import { file_envoy_extensions_filters_http_router_v3_router } from '../../proto/gen/envoy/extensions/filters/http/router/v3/router_pb.js';
import { file_envoy_extensions_filters_http_wasm_v3_wasm } from '../../proto/gen/envoy/extensions/filters/http/wasm/v3/wasm_pb.js';
import { file_envoy_extensions_filters_network_connection_limit_v3_connection_limit } from '../../proto/gen/envoy/extensions/filters/network/connection_limit/v3/connection_limit_pb.js';
import { file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { file_envoy_extensions_transport_sockets_tls_v3_secret } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import { file_envoy_extensions_transport_sockets_tls_v3_tls } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { file_envoy_extensions_transport_sockets_tls_v3_tls_spiffe_validator_config } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config_pb.js';
import { file_envoy_extensions_upstreams_http_v3_http_protocol_options } from '../../proto/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';

/** Every Envoy type a Perimeter config may carry in a typed_config. */
export const envoyRegistry = createRegistry(
  file_google_protobuf_any,
  file_google_protobuf_duration,
  file_google_protobuf_struct,
  file_google_protobuf_wrappers,
  file_envoy_config_bootstrap_v3_bootstrap,
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
  file_envoy_extensions_filters_network_connection_limit_v3_connection_limit,
  file_envoy_extensions_filters_http_wasm_v3_wasm,
  file_envoy_extensions_filters_http_router_v3_router,
  file_envoy_extensions_filters_http_jwt_authn_v3_config,
  file_envoy_extensions_filters_http_rbac_v3_rbac,
  file_envoy_extensions_transport_sockets_tls_v3_tls,
  file_envoy_extensions_transport_sockets_tls_v3_secret,
  file_envoy_extensions_transport_sockets_tls_v3_tls_spiffe_validator_config,
  file_envoy_extensions_access_loggers_grpc_v3_als,
  file_envoy_extensions_access_loggers_file_v3_file,
  file_envoy_extensions_upstreams_http_v3_http_protocol_options,
);

/** Parses YAML/JSON text strictly as `schema`; the error names what Envoy would reject. */
export function parseEnvoyConfig<D extends DescMessage>(schema: D, text: string): Result<MessageShape<D>> {
  let json: JsonValue;
  try {
    json = parse(text) as JsonValue;
  } catch (e) {
    return fail('', `not YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  try {
    return ok(fromJson(schema, json, { registry: envoyRegistry }));
  } catch (e) {
    return fail('', (e as Error).message);
  }
}
