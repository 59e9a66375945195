/**
 * Control-server replicas on a shared etcd store, each a real `perimeter serve --store` process
 * (so it can be killed with SIGKILL), and local sidecars that know all of them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTROL_IDENTITY_PATH } from '../../contracts/control-identity.js';
import { BUILT_MODULE } from '../../contracts/module.js';
import { type CaFiles, generateCa, issueSvid } from '../../control/ca/ca.js';
import { sealKey } from '../../control/ha/ca-seal.js';
import type { ServerFile } from '../../control/serve/server-file.js';
import { EtcdHistory } from '../../control/store/etcd-history.js';
import { Sidecar } from '../../envoy/sidecar/sidecar.js';

export const SECRET = 'a test secret that seals the CA key';

export interface Replica {
  id: string;
  state: string;
  proc: ChildProcess;
  file: ServerFile;
  log: string[];
}

export class Replicas {
  readonly root = mkdtempSync(join(tmpdir(), 'perimeter-ha-'));
  readonly secretFile = join(this.root, 'ca-secret');
  readonly running = new Map<string, Replica>();

  constructor(
    readonly storeUrl: string,
    readonly policyDir: string,
    readonly lease = 2,
  ) {
    writeFileSync(this.secretFile, SECRET, { mode: 0o600 });
  }

  /** A CA made here and sealed into the store first, as an operator bringing their own would do. */
  async seedCa(trustDomain: string): Promise<CaFiles> {
    const made = await generateCa(trustDomain);
    const store = EtcdHistory.connect(this.storeUrl.replace('etcd://', '').split(','));
    try {
      await store.putCaIfAbsent({ certPem: made.certPem, sealedKey: sealKey(made.keyPem, Buffer.from(SECRET)), trustDomain });
    } finally {
      store.close();
    }
    return { dir: 'store', ...made, trustDomain };
  }

  async start(id: string, more: string[] = []): Promise<Replica> {
    const state = join(this.root, id);
    rmSync(join(state, 'server.json'), { force: true });
    const args = ['bin/perimeter.js', 'serve', '--store', this.storeUrl, '--replica-id', id, '--state', state];
    args.push('--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ca-key-file', this.secretFile, '--lease', String(this.lease));
    args.push('--policy', this.policyDir, '--debounce', '20', '--log-level', 'info', ...more);
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const log: string[] = [];
    proc.stdout?.on('data', (d) => log.push(String(d)));
    proc.stderr?.on('data', (d) => log.push(String(d)));
    const file = join(state, 'server.json');
    const deadline = Date.now() + 20_000;
    while (!existsSync(file)) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`replica ${id} did not start:\n${log.join('')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = { id, state, proc, file: JSON.parse(readFileSync(file, 'utf8')) as ServerFile, log };
    this.running.set(id, r);
    return r;
  }

  kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const r = this.running.get(id);
    this.running.delete(id);
    if (!r || r.proc.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      r.proc.once('exit', () => resolve());
      r.proc.kill(signal);
    });
  }

  addresses(first?: string): string[] {
    const all = [...this.running.values()];
    const i = Math.max(
      0,
      all.findIndex((r) => r.id === first),
    );
    return [...all.slice(i), ...all.slice(0, i)].map((r) => r.file.xds);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.kill(id, 'SIGTERM')));
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A sidecar for `identity` that knows every address in `control`, the first tried first. */
export async function haSidecar(ca: CaFiles, identity: string, control: readonly string[], upstreamPort: number): Promise<Sidecar> {
  const svid = await issueSvid(ca, identity);
  return Sidecar.start({
    identity,
    control: control.join(','),
    controlIdentity: `spiffe://${ca.trustDomain}${CONTROL_IDENTITY_PATH}`,
    tls: { caPem: ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem },
    inboundPort: 0,
    upstream: { host: '127.0.0.1', port: upstreamPort },
    wasm: BUILT_MODULE,
    backoffBaseMs: 200,
  });
}
