/**
 * The adversarial suite's target: the control server on test/security/policy, the victim
 * workload `api` behind a real local sidecar, and an echo app that records exactly what reached
 * it. Attacks go in over real mTLS sockets, through Node's client or as raw bytes.
 */
import { cpSync, mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { type CaFiles, issueSvid, loadCa, type Svid } from '../../control/ca/ca.js';
import type { ControlServer } from '../../control/serve/control-server.js';
import type { ControlServerOptions } from '../../control/serve/server-options.js';
import type { AccessRecord } from '../../envoy/sidecar/inbound.js';
import type { Sidecar, SidecarOptions } from '../../envoy/sidecar/sidecar.js';
import { mtls, testControl, testSidecar } from './mesh.js';
import { eventually } from './xds.js';

export const TARGET_TD = 'target.example';
export const ID = {
  api: `spiffe://${TARGET_TD}/ns/shop/sa/api`,
  web: `spiffe://${TARGET_TD}/ns/shop/sa/web`,
  intruder: `spiffe://${TARGET_TD}/ns/shop/sa/intruder`,
} as const;

/** What the app behind the sidecar received. */
export interface Seen {
  method: string;
  url: string;
  rawHeaders: string[];
}

export interface Reply {
  status: number;
  body: string;
}

export class Target {
  private readonly svids = new Map<string, Svid>();

  private constructor(
    /** Every request the app received, in order. */
    readonly seen: Seen[],
    /** Every access record the sidecar wrote. */
    readonly records: AccessRecord[],
    readonly policyDir: string,
    readonly state: string,
    readonly ca: CaFiles,
    readonly control: ControlServer,
    readonly sidecar: Sidecar,
    private readonly app: Server,
  ) {}

  static async start(
    o: { control?: Partial<ControlServerOptions>; sidecar?: Partial<SidecarOptions>; policy?: (dir: string) => void } = {},
  ): Promise<Target> {
    const policyDir = mkdtempSync(join(tmpdir(), 'perimeter-target-policy-'));
    cpSync('test/security/policy', policyDir, { recursive: true });
    o.policy?.(policyDir);
    const state = mkdtempSync(join(tmpdir(), 'perimeter-target-state-'));
    const control = await testControl(state, { policy: [policyDir], debounceMs: 30, ...o.control });
    const ca = loadCa(state);
    const seen: Seen[] = [];
    const app = createServer((req: IncomingMessage, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: [...req.rawHeaders] });
      req.resume();
      req.on('end', () => res.end('app reached\n'));
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const records: AccessRecord[] = [];
    const sidecar = await testSidecar(ca, control, ID.api, (app.address() as AddressInfo).port, {
      onRecord: (r) => records.push(r),
      ...o.sidecar,
    });
    await eventually(() => sidecar.policyVersion !== undefined, 5_000, 'the victim sidecar got its policy');
    return new Target(seen, records, policyDir, state, ca, control, sidecar, app);
  }

  async svid(identity: string): Promise<Svid> {
    let s = this.svids.get(identity);
    if (!s) {
      s = await issueSvid(this.ca, identity);
      this.svids.set(identity, s);
    }
    return s;
  }

  /**
   * One request through Node's client. A header given as a list is sent once per element, in
   * order. Returns the reply and whether the app saw the request.
   */
  async call(
    from: string | undefined,
    c: { method?: string; path: string; headers?: Record<string, string | string[]>; body?: string },
  ): Promise<Reply & { reached: boolean }> {
    const svid = from ? await this.svid(from) : undefined;
    const before = this.seen.length;
    const reply = await mtls(this.sidecar.inboundPort, this.ca.certPem, svid, c);
    return { ...reply, reached: this.seen.length > before };
  }

  /**
   * Raw bytes over an mTLS connection (for what Node's client refuses to send); resolves with
   * everything the sidecar answered once it closes or `idleMs` passes without data.
   */
  async raw(from: string | undefined, bytes: string, idleMs = 400): Promise<{ text: string; reached: boolean }> {
    const svid = from ? await this.svid(from) : undefined;
    const before = this.seen.length;
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port: this.sidecar.inboundPort,
        ca: this.ca.certPem,
        ...(svid ? { cert: svid.chainPem, key: svid.keyPem } : {}),
        checkServerIdentity: () => undefined,
      });
      let out = '';
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        socket.destroy();
        resolve(out);
      };
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(done, idleMs);
      };
      socket.on('secureConnect', () => {
        socket.write(bytes);
        arm();
      });
      socket.on('data', (d) => {
        out += d.toString('latin1');
        arm();
      });
      socket.on('end', done);
      socket.on('close', done);
      socket.on('error', (e) => (out ? done() : reject(e)));
    });
    return { text, reached: this.seen.length > before };
  }

  /** Connections the sidecar holds open to the app. */
  appConnections(): Promise<number> {
    return new Promise((resolve, reject) => this.app.getConnections((e, n) => (e ? reject(e) : resolve(n))));
  }

  async stop(): Promise<void> {
    await this.sidecar.stop();
    await this.control.stop();
    const closed = new Promise<void>((r) => this.app.close(() => r()));
    this.app.closeAllConnections();
    await closed;
  }
}

/** Status codes of every HTTP/1.1 response in a raw reply, in order. */
export function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
}
