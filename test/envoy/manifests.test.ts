/** The Kubernetes manifests we ship: the Envoy config inside is valid and current, the commands are ours. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { reasonOf } from '../../contracts/problem.js';
import { parseEnvoyConfig } from '../../control/render/registry.js';
import { BootstrapSchema } from '../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';
import { DiscoveryResponseSchema } from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';

// biome-ignore lint/suspicious/noExplicitAny: walking Kubernetes objects in assertions
type Obj = any;
const docs = (file: string): Obj[] => parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS());

/** What `perimeter envoy bootstrap` prints for web, with these flags too. */
function bootstrapOutput(...more: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(
    process.execPath,
    [
      'bin/perimeter.js',
      'envoy',
      'bootstrap',
      ...more,
      '--workload',
      'web',
      '--policy',
      'examples/shop/policy',
      '--control',
      'perimeter-control.perimeter-system.svc.cluster.local:18000',
    ],
    { encoding: 'utf8' },
  );
}

test('the sidecar example carries exactly the bootstrap perimeter envoy bootstrap renders, and Envoy’s types accept it', () => {
  const all = docs('envoy/k8s/sidecar-example.yaml');
  const shipped = all.find((d) => d.kind === 'ConfigMap').data['envoy.yaml'] as string;
  const parsed = parseEnvoyConfig(BootstrapSchema, shipped);
  assert.ok(parsed.ok, parsed.ok ? '' : reasonOf(parsed));
  const fresh = bootstrapOutput();
  assert.equal(fresh.status, 0, fresh.stderr);
  assert.equal(shipped, fresh.stdout, 'envoy/k8s/sidecar-example.yaml is stale: re-render the ConfigMap');
  const pod = all.find((d) => d.kind === 'Deployment').spec.template.spec;
  const envoy = pod.containers.find((c: Obj) => c.name === 'envoy');
  const mounts = Object.fromEntries(envoy.volumeMounts.map((m: Obj) => [m.mountPath, m.name]));
  assert.equal(mounts['/etc/perimeter/certs'], 'svid', 'the bootstrap reads the SVID from /etc/perimeter/certs');
  // The SVID by file-based SDS, from the same ConfigMap, watched: a renewed Secret is taken without a restart.
  assert.equal(mounts['/etc/envoy'], 'envoy-config', 'the SDS resource is read from /etc/envoy/svid-sds.yaml');
  const sds = all.find((d) => d.kind === 'ConfigMap').data['svid-sds.yaml'] as string;
  const sdsParsed = parseEnvoyConfig(DiscoveryResponseSchema, sds);
  assert.ok(sdsParsed.ok, sdsParsed.ok ? '' : reasonOf(sdsParsed));
  const printed = bootstrapOutput('--print-svid-sds');
  assert.equal(sds, printed.stdout, 'envoy/k8s/sidecar-example.yaml svid-sds.yaml is stale');
  assert.match(
    shipped,
    /tls_certificate_sds_secret_configs:\n\s+- name: svid\n\s+sds_config:\n\s+path_config_source:\n\s+path: \/etc\/envoy\/svid-sds.yaml\n\s+watched_directory:\n\s+path: \/etc\/perimeter\/certs/,
  );
  assert.equal(mounts['/etc/perimeter'], 'wasm', 'the ECDS resource names /etc/perimeter/perimeter.wasm');
  assert.deepEqual(envoy.args.slice(0, 2), ['-c', '/etc/envoy/envoy.yaml']);
});

test('the control server manifest runs perimeter serve with its state on a volume and xDS on the service port', () => {
  const all = docs('envoy/k8s/control-server.yaml');
  const deploy = all.find((d) => d.kind === 'Deployment');
  const c = deploy.spec.template.spec.containers[0];
  assert.equal(c.args[0], 'serve');
  assert.ok(c.args.includes('--state=/var/lib/perimeter'));
  assert.ok(c.args.includes('--listen=0.0.0.0:18000'));
  assert.ok(c.volumeMounts.some((m: Obj) => m.mountPath === '/var/lib/perimeter' && m.name === 'state'));
  const svc = all.find((d) => d.kind === 'Service');
  assert.equal(svc.spec.ports[0].port, 18000);
  assert.equal(c.readinessProbe.httpGet.path, '/healthz');
  // The admin port does not rest on the NetworkPolicy alone: changes need the token from a Secret.
  const tokenArg = c.args.find((a: string) => a.startsWith('--admin-token-file='));
  assert.ok(tokenArg, 'serve is given the operator token');
  const mount = c.volumeMounts.find((m: Obj) => tokenArg.slice('--admin-token-file='.length).startsWith(`${m.mountPath}/`));
  assert.ok(mount?.readOnly, 'the token is on a read-only mount');
  const vol = deploy.spec.template.spec.volumes.find((v: Obj) => v.name === mount.name);
  assert.equal(vol.secret.secretName, 'perimeter-admin-token');
  assert.equal(vol.secret.defaultMode & 0o007, 0, 'the token is not readable by others');
});

test('the replicated manifest runs three replicas on the store, its secrets read-only, spread over nodes', () => {
  const all = docs('envoy/k8s/control-server-ha.yaml');
  const deploy = all.find((d) => d.kind === 'Deployment');
  assert.equal(deploy.spec.replicas, 3);
  const c = deploy.spec.template.spec.containers[0];
  assert.equal(c.args[0], 'serve');
  const arg = (name: string) =>
    (c.args as string[])
      .find((a) => a.startsWith(`--${name}=`))
      ?.split('=')
      .slice(1)
      .join('=');
  assert.match(arg('store') ?? '', /^etcd:\/\/[^,]+:2379(,[^,]+:2379){2}$/);
  for (const f of ['etcd-ca', 'etcd-cert', 'etcd-key', 'ca-key-file', 'admin-token-file']) {
    const file = arg(f) as string;
    const mount = c.volumeMounts.find((m: Obj) => file.startsWith(`${m.mountPath}/`));
    assert.ok(mount?.readOnly, `--${f} is on a read-only mount`);
  }
  assert.equal(arg('replica-id'), '$(POD_NAME)');
  assert.ok(deploy.spec.template.spec.topologySpreadConstraints?.length, 'one replica per node');
  assert.ok(all.some((d) => d.kind === 'PodDisruptionBudget'));
});
