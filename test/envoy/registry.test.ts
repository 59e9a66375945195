/** Envoy configs are parsed strictly into Envoy's real proto types (generated from @grpc/grpc-js-xds's protos). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reasonOf } from '../../contracts/problem.js';
import { parseEnvoyConfig } from '../../control/render/registry.js';
import { BootstrapSchema } from '../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';

const BOOTSTRAP = `
node: {id: spiffe://shop.example/ns/shop/sa/web, cluster: web}
static_resources:
  listeners:
    - name: inbound
      address: {socket_address: {address: 0.0.0.0, port_value: 15006}}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: inbound
                normalize_path: true
                merge_slashes: true
                path_with_escaped_slashes_action: REJECT_REQUEST
                route_config: {name: local, virtual_hosts: [{name: all, domains: ["*"], routes: [{match: {prefix: /}, route: {cluster: app}}]}]}
                http_filters:
                  - name: perimeter.authz
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
                      config:
                        name: perimeter.authz
                        root_id: perimeter
                        vm_config: {vm_id: perimeter, runtime: envoy.wasm.runtime.v8, code: {local: {filename: /etc/perimeter/perimeter.wasm}}}
                        configuration: {"@type": type.googleapis.com/google.protobuf.BytesValue, value: ""}
                  - name: envoy.filters.http.router
                    typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
    - name: app
      type: STATIC
      load_assignment: {cluster_name: app, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8080}}}}]}]}
`;

test('a bootstrap with HCM, the Wasm filter and the router parses into Envoy types', () => {
  const r = parseEnvoyConfig(BootstrapSchema, BOOTSTRAP);
  assert.ok(r.ok, r.ok ? '' : reasonOf(r));
  assert.equal(r.value.staticResources?.listeners[0]?.name, 'inbound');
  assert.equal(r.value.node?.id, 'spiffe://shop.example/ns/shop/sa/web');
});

const bad: [string, string, RegExp][] = [
  ['a misspelt field', BOOTSTRAP.replace('stat_prefix', 'stat_prefx'), /stat_prefx/],
  ['an unknown @type', BOOTSTRAP.replace('router.v3.Router', 'router.v3.Routr'), /Routr/],
  ['a bad enum value', BOOTSTRAP.replace('type: STATIC', 'type: STATICALLY'), /STATICALLY/],
  ['a wrong value type', BOOTSTRAP.replace('port_value: 15006', 'port_value: lots'), /port_value|portValue/],
];

for (const [name, text, error] of bad) {
  test(`rejects ${name}`, () => {
    const r = parseEnvoyConfig(BootstrapSchema, text);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : reasonOf(r), error);
  });
}
