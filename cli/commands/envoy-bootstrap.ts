/** `perimeter envoy bootstrap`: the Envoy bootstrap of one workload's sidecar, checked against Envoy's protos. */
import { writeFileSync } from 'node:fs';
import { CONTROL_IDENTITY_PATH } from '../../contracts/control-identity.js';
import { RESOURCE_NAME } from '../../contracts/ecds.js';
import { reasonOf } from '../../contracts/problem.js';
import { renderBootstrapYaml, renderSvidSdsYaml } from '../../control/render/bootstrap.js';
import { peersOf } from '../../control/render/peers.js';
import { parseEnvoyConfig } from '../../control/render/registry.js';
import { BootstrapSchema } from '../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';
import { DiscoveryResponseSchema } from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import { Need } from '../../proto/gen/perimeter/v1/compiled.js';
import { defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { loadAndCompile } from '../support/load-policy.js';
import { hostPortArg, JWT_FLAGS, LIMIT_FLAGS, limitsArg, portArg, UsageError, workloadIn } from '../support/targets.js';

const BOOTSTRAP_DEFAULTS = {
  inbound: '15443',
  app: '8080',
  outbound: '15001',
  adminPort: '15000',
  certs: '/etc/perimeter/certs',
  svidSds: '/etc/envoy/svid-sds.yaml',
  jwks: '/etc/perimeter/jwks.json',
  resourceName: RESOURCE_NAME,
};

const FLAGS = {
  workload: flag.required('--workload <name>', 'workload name or SPIFFE ID'),
  policy: flag.required('--policy <dir>', 'policy directory (the registry and what the policy needs)'),
  control: flag.required(
    '--control <host:port[,host:port…]>',
    'the control server or its replicas (xDS and ALS; one cluster, an endpoint each)',
  ),
  controlIdentity: flag.string(
    '--control-identity <spiffe-id>',
    'SPIFFE ID the control server must present (default …/ns/perimeter-system/sa/perimeter-control)',
  ),
  inbound: flag.withDefault('--inbound <port>', 'inbound mTLS listener', BOOTSTRAP_DEFAULTS.inbound),
  app: flag.withDefault('--app <port>', 'the local app behind the sidecar', BOOTSTRAP_DEFAULTS.app),
  appHttp2: flag.bool('--app-http2', 'the app speaks HTTP/2 (cleartext, prior knowledge): gRPC services'),
  outbound: flag.withDefault('--outbound <port>', 'outbound listener on loopback (plain HTTP from the app)', BOOTSTRAP_DEFAULTS.outbound),
  adminPort: flag.withDefault('--admin-port <port>', 'Envoy admin, on loopback', BOOTSTRAP_DEFAULTS.adminPort),
  certs: flag.withDefault('--certs <dir>', 'where svid.crt.pem, svid.key.pem and ca.crt.pem are mounted', BOOTSTRAP_DEFAULTS.certs),
  svidSds: flag.withDefault(
    '--svid-sds <file>',
    'where the SVID’s file-based SDS resource is mounted (--print-svid-sds prints it)',
    BOOTSTRAP_DEFAULTS.svidSds,
  ),
  printSvidSds: flag.bool('--print-svid-sds', 'print the SVID’s SDS resource (for --certs) instead of the bootstrap'),
  peer: flag.list(
    '--peer <workload=host:port>',
    'an outbound destination (repeatable; default: every workload at <name>.<ns>.svc.cluster.local)',
  ),
  delta: flag.bool('--delta', 'incremental xDS (DELTA_GRPC) instead of state of the world'),
  jwks: flag.withDefault('--jwks <file>', 'JWKS for jwt_authn, when the policy reads claims', BOOTSTRAP_DEFAULTS.jwks),
  ...JWT_FLAGS,
  ...LIMIT_FLAGS,
  resourceName: flag.withDefault(
    '--resource-name <name>',
    'ECDS resource name, as the control server serves it',
    BOOTSTRAP_DEFAULTS.resourceName,
  ),
  out: flag.string('--out <file>', 'write to a file instead of stdout'),
};

export const envoyBootstrapCommand = defineCommand({
  path: ['envoy', 'bootstrap'],
  description: "render a workload's Envoy bootstrap (mTLS inbound and outbound, the filter by ECDS, ALS), checked against Envoy's protos",
  flags: FLAGS,
  run: runEnvoyBootstrap,
});

function runEnvoyBootstrap(o: OptionsOf<typeof FLAGS>): number {
  const certDir = o.certs.replace(/\/$/, '');
  if (o.printSvidSds) {
    const sds = renderSvidSdsYaml(certDir);
    const parsed = parseEnvoyConfig(DiscoveryResponseSchema, sds);
    if (!parsed.ok)
      throw new Error(`internal error: the SVID's SDS resource does not parse as an Envoy DiscoveryResponse: ${reasonOf(parsed)}`);
    return emit(o.out, sds, 'the SVID’s SDS resource');
  }
  const compiled = loadAndCompile([o.policy]);
  const me = workloadIn(compiled, o.workload, o.policy);
  const trustDomain = me.workload.identity.replace(/^spiffe:\/\//, '').split('/')[0] as string;
  const ports = {
    inbound: portArg('--inbound', o.inbound),
    app: portArg('--app', o.app),
    outbound: portArg('--outbound', o.outbound),
    admin: portArg('--admin-port', o.adminPort),
  };
  const explicit = new Map(
    (o.peer ?? []).map((p) => {
      const eq = p.indexOf('=');
      if (eq < 1) throw new UsageError(`--peer ${p}: expected WORKLOAD=HOST:PORT`);
      return [p.slice(0, eq), hostPortArg('--peer', p.slice(eq + 1))] as const;
    }),
  );
  for (const n of explicit.keys())
    if (!compiled.workloads.some((w) => w.workload.name === n)) throw new UsageError(`--peer ${n}: no such workload`);
  const peers = peersOf(
    compiled.workloads.map((w) => w.workload),
    me.workload,
    explicit,
    ports.inbound,
  );
  const yaml = renderBootstrapYaml({
    workload: me.workload,
    trustDomain,
    control: {
      addresses: o.control.split(',').map((a) => hostPortArg('--control', a.trim())),
      identity: o.controlIdentity ?? `spiffe://${trustDomain}${CONTROL_IDENTITY_PATH}`,
    },
    ports,
    certDir,
    svidSds: o.svidSds,
    peers,
    resourceName: o.resourceName,
    delta: Boolean(o.delta),
    limits: limitsArg(o),
    ...(o.appHttp2 ? { appHttp2: true } : {}),
    ...(me.policy.needs & Need.NEED_CLAIMS
      ? { jwt: { jwksFile: o.jwks, ...(o.jwtIssuer ? { issuer: o.jwtIssuer } : {}), audiences: o.jwtAudience ?? [] } }
      : {}),
  });
  if (me.policy.needs & Need.NEED_CLAIMS && !o.jwtAudience?.length)
    process.stderr.write(
      `warning: ${me.workload.name}'s policy reads JWT claims and no --jwt-audience was given: jwt_authn accepts a token minted for any service\n`,
    );
  // Never hand out a config Envoy's own types reject.
  const parsed = parseEnvoyConfig(BootstrapSchema, yaml);
  if (!parsed.ok) throw new Error(`internal error: the rendered bootstrap does not parse as an Envoy Bootstrap: ${reasonOf(parsed)}`);
  return emit(o.out, yaml, `Envoy bootstrap for ${me.workload.name} (${me.workload.identity})`);
}

function emit(out: string | undefined, text: string, what: string): number {
  if (out) {
    writeFileSync(out, text);
    process.stderr.write(`wrote ${out}: ${what}\n`);
  } else process.stdout.write(text);
  return 0;
}
