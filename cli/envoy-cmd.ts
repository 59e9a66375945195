/** `perimeter envoy bootstrap`: the Envoy bootstrap of one workload's sidecar, checked against Envoy's protos. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { CONTROL_IDENTITY_PATH } from '../contracts/control-identity.js';
import { RESOURCE_NAME } from '../contracts/ecds.js';
import { BUILT_MODULE } from '../contracts/module.js';
import { type Peer, renderBootstrapYaml } from '../control/render/bootstrap.js';
import { parseEnvoyConfig } from '../control/render/registry.js';
import { renderWasmPlugin } from '../control/render/wasmplugin.js';
import { BootstrapSchema } from '../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';
import { Need } from '../proto/gen/perimeter/v1/compiled.js';
import { loadAndCompile } from './load-policy.js';
import { hostPortArg, type LimitOptions, limitsArg, portArg, UsageError } from './targets.js';

export interface BootstrapCmdOptions extends LimitOptions {
  workload: string;
  policy: string;
  control: string;
  controlIdentity?: string;
  inbound: string;
  app: string;
  outbound: string;
  adminPort: string;
  certs: string;
  peer?: string[];
  delta?: boolean;
  jwks: string;
  jwtIssuer?: string;
  jwtAudience?: string[];
  resourceName: string;
  out?: string;
}

export function runEnvoyBootstrap(o: BootstrapCmdOptions): number {
  const compiled = loadAndCompile([o.policy]);
  const me = compiled.workloads.find((w) => w.workload.name === o.workload || w.workload.identity === o.workload);
  if (!me)
    throw new UsageError(`no workload ${o.workload} in ${o.policy} (known: ${compiled.workloads.map((w) => w.workload.name).join(', ')})`);
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
  // Without --peer, peers are reached at their Kubernetes service name on the inbound port.
  const peers: Peer[] = compiled.workloads
    .filter((w) => w !== me)
    .map((w) => {
      const at = explicit.get(w.workload.name);
      return {
        workload: w.workload,
        host: at?.host ?? `${w.workload.name}.${w.workload.namespace}.svc.cluster.local`,
        port: at?.port ?? ports.inbound,
      };
    })
    .filter((p) => explicit.size === 0 || explicit.has(p.workload.name));
  const yaml = renderBootstrapYaml({
    workload: me.workload,
    trustDomain,
    control: { ...hostPortArg('--control', o.control), identity: o.controlIdentity ?? `spiffe://${trustDomain}${CONTROL_IDENTITY_PATH}` },
    ports,
    certDir: o.certs.replace(/\/$/, ''),
    peers,
    resourceName: o.resourceName,
    delta: Boolean(o.delta),
    limits: limitsArg(o),
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
  if (!parsed.ok) throw new Error(`internal error: the rendered bootstrap does not parse as an Envoy Bootstrap: ${parsed.error}`);
  if (o.out) {
    writeFileSync(o.out, yaml);
    process.stderr.write(`wrote ${o.out}: Envoy bootstrap for ${me.workload.name} (${me.workload.identity})\n`);
  } else process.stdout.write(yaml);
  return 0;
}

export const BOOTSTRAP_DEFAULTS = {
  inbound: '15443',
  app: '8080',
  outbound: '15001',
  adminPort: '15000',
  certs: '/etc/perimeter/certs',
  jwks: '/etc/perimeter/jwks.json',
  resourceName: RESOURCE_NAME,
};

export function runWasmPlugin(o: { workload: string; policy: string; url: string; wasm?: string; out?: string }): number {
  const compiled = loadAndCompile([o.policy]);
  const me = compiled.workloads.find((w) => w.workload.name === o.workload || w.workload.identity === o.workload);
  if (!me)
    throw new UsageError(`no workload ${o.workload} in ${o.policy} (known: ${compiled.workloads.map((w) => w.workload.name).join(', ')})`);
  const module = o.wasm ?? BUILT_MODULE;
  if (!existsSync(module)) throw new UsageError(`${module} does not exist: run npm run build`);
  const text = renderWasmPlugin({
    workload: me.workload,
    policy: me.bytes,
    policyVersion: me.version,
    url: o.url,
    sha256: createHash('sha256').update(readFileSync(module)).digest('hex'),
  });
  if (o.out) {
    writeFileSync(o.out, text);
    process.stderr.write(`wrote ${o.out}: WasmPlugin for ${me.workload.name}, policy ${me.version}\n`);
  } else process.stdout.write(text);
  return 0;
}
