/** `perimeter sidecar`: the local sidecar for one workload, until SIGINT or SIGTERM. */
import { existsSync, readFileSync } from 'node:fs';
import { CONTROL_IDENTITY_PATH } from '../../contracts/control-identity.js';
import { BUILT_MODULE } from '../../contracts/module.js';
import { problemText } from '../../contracts/problem.js';
import { findCa, issueSvid, svidProblem } from '../../control/ca/ca.js';
import { loadPaths } from '../../control/policy/load.js';
import type { Workload } from '../../control/policy/model.js';
import type { OutboundPeer } from '../../envoy/sidecar/outbound.js';
import { Sidecar } from '../../envoy/sidecar/sidecar.js';
import { renewalProblem, type SvidSource, type TlsMaterial } from '../../envoy/sidecar/svid.js';
import { DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { hostPortArg, JWT_FLAGS, LIMIT_FLAGS, limitsArg, portArg, UsageError } from '../support/targets.js';

const FLAGS = {
  workload: flag.required('--workload <name|spiffe-id>', 'the workload (a name needs --policy)'),
  control: flag.required(
    '--control <host:port[,host:port…]>',
    'the control server, or its replicas (tried in turn, with jittered backoff)',
  ),
  inbound: flag.required('--inbound <port>', 'inbound mTLS port (0: any free port)'),
  upstream: flag.required('--upstream <host:port>', 'the app behind the sidecar'),
  upstreamHttp2: flag.bool(
    '--upstream-http2',
    'the app speaks HTTP/2 (cleartext, prior knowledge): gRPC services (as the bootstrap’s --app-http2)',
  ),
  outbound: flag.string('--outbound <port>', 'loopback port for the app’s outbound calls'),
  adminPort: flag.string('--admin-port <port>', 'loopback admin: /stats/prometheus, /ready'),
  als: flag.string(
    '--als <host:port[,host:port…]>',
    'stream access entries (with the decision record) to this Access Log Service (default: the control server, which records them as flows)',
  ),
  jwks: flag.string('--jwks <file>', 'verify bearer tokens against this JWKS and hand the claims to the module (as Envoy jwt_authn)'),
  ...JWT_FLAGS,
  ...LIMIT_FLAGS,
  peer: flag.list('--peer <workload=host:port>', 'an outbound destination (repeatable; needs --policy)'),
  policy: flag.string('--policy <dir>', 'policy directory, to resolve workload names'),
  state: flag.withDefault('--state <dir>', 'state directory whose CA issues this sidecar’s SVID', DEFAULT_STATE),
  cert: flag.string('--cert <file>', 'SVID certificate chain (instead of issuing one from --state)'),
  key: flag.string('--key <file>', 'SVID private key'),
  ca: flag.string('--ca <file>', 'mesh CA certificate'),
  wasm: flag.string('--wasm <file>', 'the Proxy-Wasm module to run (default filter/build/perimeter.wasm)'),
  controlIdentity: flag.string('--control-identity <spiffe-id>', 'SPIFFE ID the control server must present'),
  delta: flag.bool('--delta', 'incremental xDS'),
};

export const sidecarCommand = defineCommand({
  path: ['sidecar'],
  description: "the local sidecar: a workload's mTLS inbound (policy from the control server, enforced by the Wasm module) and outbound",
  flags: FLAGS,
  run: runSidecar,
});

function registry(policy: string | undefined): Workload[] {
  if (!policy) return [];
  const loaded = loadPaths([policy]);
  if (!loaded.ok) throw new UsageError(`--policy ${policy} has errors; run perimeter validate ${policy}`);
  return loaded.policy.workloads;
}

async function runSidecar(o: OptionsOf<typeof FLAGS>): Promise<number> {
  const workloads = registry(o.policy);
  const me = o.workload.startsWith('spiffe://') ? o.workload : workloads.find((w) => w.name === o.workload)?.identity;
  if (!me) throw new UsageError(`--workload ${o.workload}: give a SPIFFE ID, or a workload name with --policy DIR`);
  const trustDomain = me.replace(/^spiffe:\/\//, '').split('/')[0] as string;
  // The SVID, and where its renewals come from: the files again (an agent such as SPIRE's, or
  // cert-manager, rewrites them before they expire), or the CA in --state.
  let tls: TlsMaterial;
  let renewSvid: SvidSource;
  if (o.cert || o.key || o.ca) {
    const { cert, key, ca } = o;
    if (!cert || !key || !ca) throw new UsageError('--cert, --key and --ca go together');
    for (const f of [cert, key, ca]) if (!existsSync(f)) throw new UsageError(`${f} does not exist`);
    renewSvid = async () => ({ certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8'), caPem: readFileSync(ca, 'utf8') });
    tls = await renewSvid();
    const refused = renewalProblem(tls, me);
    if (refused) throw new UsageError(`--cert ${cert}: ${refused}`);
  } else {
    const found = findCa(o.state);
    const refused = found.ok ? svidProblem(found.value, me) : found.problems[0];
    if (!found.ok || refused) throw new UsageError(`${refused ? problemText(refused) : ''} (or pass --cert, --key and --ca)`);
    const issuer = found.value;
    renewSvid = async () => {
      const svid = await issueSvid(issuer, me);
      return { caPem: issuer.certPem, certPem: svid.chainPem, keyPem: svid.keyPem };
    };
    tls = await renewSvid();
  }
  for (const a of o.als?.split(',') ?? []) hostPortArg('--als', a.trim());
  for (const a of o.control.split(',')) hostPortArg('--control', a.trim());
  const peers: OutboundPeer[] = (o.peer ?? []).map((p) => {
    const eq = p.indexOf('=');
    if (eq < 1) throw new UsageError(`--peer ${p}: expected WORKLOAD=HOST:PORT`);
    const w = workloads.find((x) => x.name === p.slice(0, eq));
    if (!w) throw new UsageError(`--peer ${p}: no workload ${p.slice(0, eq)} (peers are named with --policy DIR)`);
    return { name: w.name, namespace: w.namespace, identity: w.identity, ...hostPortArg('--peer', p.slice(eq + 1)) };
  });
  const line = (event: string, fields: Record<string, unknown>) =>
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), sidecar: me, event, ...fields })}\n`);
  const sidecar = await Sidecar.start({
    identity: me,
    control: o.control,
    controlIdentity: o.controlIdentity ?? `spiffe://${trustDomain}${CONTROL_IDENTITY_PATH}`,
    tls,
    renewSvid,
    inboundPort: portArg('--inbound', o.inbound, true),
    upstream: { ...hostPortArg('--upstream', o.upstream), protocol: o.upstreamHttp2 ? 'http2' : 'http1' },
    ...(o.outbound !== undefined ? { outboundPort: portArg('--outbound', o.outbound, true), peers } : {}),
    ...(o.adminPort !== undefined ? { adminPort: portArg('--admin-port', o.adminPort, true) } : {}),
    ...(o.jwks
      ? {
          jwt: {
            jwksFile: o.jwks,
            ...(o.jwtIssuer ? { issuer: o.jwtIssuer } : {}),
            ...(o.jwtAudience ? { audiences: o.jwtAudience } : {}),
          },
        }
      : {}),
    // As the Envoy bootstrap does: access entries go to the control server unless told otherwise.
    als: o.als ?? o.control,
    wasm: o.wasm ?? BUILT_MODULE,
    transport: o.delta ? 'delta' : 'sotw',
    limits: limitsArg(o),
    log: line,
    onRecord: (r) => line('access', { ...r }),
  });
  line('listening', {
    inbound: sidecar.inboundPort,
    outbound: sidecar.outboundPort,
    admin: sidecar.adminPort,
    upstream: o.upstream,
    control: o.control,
  });
  await new Promise<void>((resolve) => {
    const stop = () => void sidecar.stop().then(resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}
