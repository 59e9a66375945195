/** `perimeter envoy wasmplugin`: the Istio resource carries the workload's policy in a form the filter accepts. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { RESOURCE_NAME } from '../../contracts/ecds.js';
import { BUILT_MODULE } from '../../contracts/module.js';
import type { PolicyRequest } from '../../contracts/request.js';
import { toEnvoy } from '../../envoy/filter-runner.js';
import { ProxyWasmHost } from '../../envoy/host/host.js';
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';

// biome-ignore lint/suspicious/noExplicitAny: walking the resource in assertions
type Obj = any;

/** What Istio does with pluginConfig: JSON text as the plugin configuration. */
function decide(pluginConfig: unknown, req: Partial<PolicyRequest>): number {
  const host = ProxyWasmHost.load(BUILT_MODULE, { vmId: 'istio', log: () => {} });
  const plugin = host.configure({ name: RESOURCE_NAME, rootId: 'perimeter', configuration: Buffer.from(JSON.stringify(pluginConfig)) });
  const { info, headers } = toEnvoy({ method: 'GET', path: '/', ...req } as PolicyRequest);
  const s = plugin.newStream(info);
  const o = s.onRequestHeaders(headers, true);
  s.finish();
  return o.localReply?.status ?? 200;
}

test('the WasmPlugin selects the workload by its labels, fails closed, pins the module and carries its policy', () => {
  const r = spawnSync(
    process.execPath,
    ['bin/perimeter.js', 'envoy', 'wasmplugin', '--workload', 'payments', '--policy', 'examples/shop/policy'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const wp: Obj = parse(r.stdout);
  assert.equal(wp.apiVersion, 'extensions.istio.io/v1alpha1');
  assert.equal(wp.kind, 'WasmPlugin');
  assert.equal(wp.metadata.namespace, 'payments');
  assert.deepEqual(wp.spec.selector.matchLabels, { app: 'payments', tier: 'backend', data: 'cardholder' });
  assert.equal(wp.spec.phase, 'AUTHZ');
  assert.equal(wp.spec.failStrategy, 'FAIL_CLOSE');
  assert.equal(wp.spec.sha256, createHash('sha256').update(readFileSync(BUILT_MODULE)).digest('hex'));
  const policy = CompiledPolicy.decode(Buffer.from(wp.spec.pluginConfig.policy, 'base64'));
  assert.equal(policy.workload, 'payments');
  assert.equal(policy.version, wp.metadata.annotations['perimeter.dev/policy-version']);
  const app = 'spiffe://shop.example/ns/shop/sa/app';
  assert.equal(
    decide(wp.spec.pluginConfig, {
      principal: app,
      method: 'POST',
      path: '/payments/charge',
      claims: { amr: ['mfa'], device_posture: 'compliant' },
    }),
    200,
  );
  assert.equal(
    decide(wp.spec.pluginConfig, { principal: 'spiffe://shop.example/ns/shop/sa/intruder', method: 'POST', path: '/payments/charge' }),
    403,
  );
});

test('the shipped example is a WasmPlugin whose policy the filter accepts', () => {
  const wp: Obj = parse(readFileSync('envoy/k8s/istio-wasmplugin.yaml', 'utf8'));
  assert.equal(wp.kind, 'WasmPlugin');
  assert.equal(decide(wp.spec.pluginConfig, { principal: 'spiffe://shop.example/ns/shop/sa/intruder', path: '/payments/charge' }), 403);
});
