/**
 * The demo mesh: the control server, the mesh CA, a demo identity provider, and for every
 * workload of a policy a tiny app behind a local sidecar (mTLS inbound, outbound on loopback).
 * Everything on free loopback ports, in a scratch state directory; flows are played through the
 * real sockets and the destination sidecar's decision record says what happened.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { CONTROL_IDENTITY_PATH } from '../../contracts/control-identity.js';
import { BUILT_MODULE } from '../../contracts/module.js';
import { type CaFiles, issueSvid, loadCa } from '../../control/ca/ca.js';
import { loadPaths } from '../../control/policy/load.js';
import type { Workload } from '../../control/policy/model.js';
import { ControlServer } from '../../control/serve/control-server.js';
import type { AccessRecord } from '../../envoy/sidecar/inbound.js';
import { type Outbound, startOutbound } from '../../envoy/sidecar/outbound.js';
import { Sidecar } from '../../envoy/sidecar/sidecar.js';

export const DEMO_ISSUER = 'https://idp.shop.example';

export interface DemoFlow {
  from: string;
  to: string;
  method: string;
  path: string;
  /** A list is a header sent once per element. */
  headers?: Record<string, string | string[]>;
  claims?: Record<string, unknown>;
}

export interface FlowResult {
  status: number | 'refused';
  /** The destination sidecar's access record for this request, if it got that far. */
  record: AccessRecord | undefined;
}

interface Member {
  workload: Workload;
  app: Server;
  sidecar: Sidecar;
  outbound: Outbound;
  records: AccessRecord[];
}

const silent = { info() {}, warn() {}, error() {} };

export class DemoMesh {
  readonly members = new Map<string, Member>();
  /** The demo's identity provider: a token for `audience` (the workload it is meant for). */
  private signer!: (claims: Record<string, unknown>, audience: string) => Promise<string>;

  private constructor(
    readonly policyDir: string,
    readonly state: string,
    readonly control: ControlServer,
    readonly ca: CaFiles,
  ) {}

  /** Starts the mesh on a copy of `policy` (the demo edits its copy, never the original). */
  static async start(policy: string, progress: (msg: string) => void = () => {}): Promise<DemoMesh> {
    const policyDir = mkdtempSync(join(tmpdir(), 'perimeter-demo-policy-'));
    cpSync(policy, policyDir, { recursive: true });
    const state = mkdtempSync(join(tmpdir(), 'perimeter-demo-state-'));
    progress('starting the control server (mTLS xDS, mesh CA)');
    const control = await ControlServer.start({
      policy: [policyDir],
      state,
      listen: '127.0.0.1:0',
      // The admin port serves the web page (/ui) and lets perimeter status, quarantine… reach the demo.
      admin: '127.0.0.1:0',
      insecure: false,
      debounceMs: 50,
      moduleFile: BUILT_MODULE,
      log: silent,
    });
    const mesh = new DemoMesh(policyDir, state, control, loadCa(state));
    await mesh.startIdp();
    const loaded = loadPaths([policyDir]);
    if (!loaded.ok) throw new Error(`${policy} has errors: run perimeter validate ${policy}`);
    for (const w of loaded.policy.workloads) await mesh.startMember(w);
    for (const m of mesh.members.values()) await mesh.startOutbound(m);
    progress(`${mesh.members.size} sidecars started; waiting for their policies`);
    const end = Date.now() + 15_000;
    while ([...mesh.members.values()].some((m) => m.sidecar.policyVersion === undefined)) {
      if (Date.now() > end) throw new Error('the sidecars did not receive their policies within 15 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    return mesh;
  }

  private async startIdp(): Promise<void> {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'demo', alg: 'ES256', use: 'sig' };
    writeFileSync(join(this.state, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    this.signer = (claims, audience) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: 'demo' })
        .setIssuer(DEMO_ISSUER)
        .setAudience(audience)
        .setSubject('demo-user')
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(privateKey);
  }

  private async startMember(workload: Workload): Promise<void> {
    const app = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ workload: workload.name, path: req.url }));
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const svid = await issueSvid(this.ca, workload.identity);
    const records: AccessRecord[] = [];
    const sidecar = await Sidecar.start({
      identity: workload.identity,
      control: `127.0.0.1:${this.control.xdsPort}`,
      controlIdentity: `spiffe://${this.ca.trustDomain}${CONTROL_IDENTITY_PATH}`,
      tls: { caPem: this.ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem },
      inboundPort: 0,
      upstream: { host: '127.0.0.1', port: (app.address() as AddressInfo).port },
      wasm: BUILT_MODULE,
      jwt: { jwksFile: join(this.state, 'jwks.json'), issuer: DEMO_ISSUER, audiences: [workload.name] },
      // Every request is also a flow the control server records (perimeter flows --state …).
      als: `127.0.0.1:${this.control.xdsPort}`,
      onRecord: (r) => records.push(r),
    });
    this.members.set(workload.name, { workload, app, sidecar, outbound: undefined as unknown as Outbound, records });
  }

  private async startOutbound(m: Member): Promise<void> {
    const svid = await issueSvid(this.ca, m.workload.identity);
    const peers = [...this.members.values()]
      .filter((p) => p !== m)
      .map((p) => ({
        name: p.workload.name,
        namespace: p.workload.namespace,
        identity: p.workload.identity,
        host: '127.0.0.1',
        port: p.sidecar.inboundPort,
      }));
    m.outbound = await startOutbound({ tls: { caPem: this.ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem }, peers }, 0);
  }

  /** Plays one flow: from a workload's app through its outbound sidecar, or as a bare identity. */
  async play(f: DemoFlow): Promise<FlowResult> {
    const dest = this.members.get(f.to);
    if (!dest) throw new Error(`no workload ${f.to}`);
    const seen = dest.records.length;
    const headers: Record<string, string | string[]> = { ...(f.headers ?? {}) };
    if (f.claims) headers.authorization = `Bearer ${await this.signer(f.claims, f.to)}`;
    let status: number | 'refused';
    const source = this.members.get(f.from);
    if (source) status = await plain(source.outbound.port, f.to, f.method, f.path, headers);
    else {
      const svid = f.from.startsWith('spiffe://') ? await issueSvid(this.ca, f.from) : undefined;
      status = await direct(dest.sidecar.inboundPort, this.ca.certPem, svid, f.method, f.path, headers);
    }
    return { status, record: dest.records.length > seen ? dest.records.at(-1) : undefined };
  }

  async stop(): Promise<void> {
    for (const m of this.members.values()) {
      await m.sidecar.stop();
      await m.outbound.close();
      m.app.close();
    }
    await this.control.stop();
    rmSync(this.state, { recursive: true, force: true });
    rmSync(this.policyDir, { recursive: true, force: true });
  }
}

function plain(port: number, host: string, method: string, path: string, headers: Record<string, string | string[]>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { ...headers, host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A caller with no sidecar of its own: its own SVID, or none (refused at the handshake). */
function direct(
  port: number,
  caPem: string,
  svid: { chainPem: string; keyPem: string } | undefined,
  method: string,
  path: string,
  headers: Record<string, string | string[]>,
): Promise<number | 'refused'> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers,
        ca: caPem,
        ...(svid ? { cert: svid.chainPem, key: svid.keyPem } : {}),
        checkServerIdentity: () => undefined,
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve('refused'));
    req.end();
  });
}
