/**
 * A real etcd cluster for the tests: Debian's etcd-server (installed by test/ensure-etcd.mjs),
 * members on free loopback ports, each in its own temporary data directory, stopped (and its
 * data removed) when the test is done. Members can be killed and restarted to test faults.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findEtcd } from '../ensure-etcd.mjs';

/** A port no one listens on now (the kernel's pick, released at once). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Member {
  name: string;
  client: number;
  peer: number;
  dir: string;
  proc?: ChildProcess;
  log: string[];
}

export class EtcdCluster {
  private constructor(
    private readonly members: Member[],
    private readonly root: string,
  ) {}

  /** Starts `size` members and waits until the cluster answers. */
  static async start(size = 3): Promise<EtcdCluster> {
    const bin = findEtcd();
    if (!bin) throw new Error('no etcd binary: run node test/ensure-etcd.mjs (Debian: apt-get install etcd-server)');
    const root = mkdtempSync(join(tmpdir(), 'etcd-'));
    const members: Member[] = [];
    for (let i = 0; i < size; i++)
      members.push({ name: `m${i}`, client: await freePort(), peer: await freePort(), dir: join(root, `m${i}`), log: [] });
    const cluster = new EtcdCluster(members, root);
    for (const m of members) cluster.launch(m, 'new');
    await cluster.healthy();
    return cluster;
  }

  /** Process ids of the running members (the benchmarks read their CPU time). */
  pids(): number[] {
    return this.members.flatMap((m) => (m.proc?.pid !== undefined ? [m.proc.pid] : []));
  }

  /** Client endpoints of the members that are running (or all), as `host:port`. */
  endpoints(all = true): string[] {
    return this.members.filter((m) => all || m.proc).map((m) => `127.0.0.1:${m.client}`);
  }

  /** The `--store` value for these members. */
  storeUrl(): string {
    return `etcd://${this.endpoints().join(',')}`;
  }

  private launch(m: Member, state: 'new' | 'existing'): void {
    const initial = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peer}`).join(',');
    const bin = findEtcd() as string;
    const proc = spawn(
      bin,
      [
        `--name=${m.name}`,
        `--data-dir=${m.dir}`,
        `--listen-client-urls=http://127.0.0.1:${m.client}`,
        `--advertise-client-urls=http://127.0.0.1:${m.client}`,
        `--listen-peer-urls=http://127.0.0.1:${m.peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${m.peer}`,
        `--initial-cluster=${initial}`,
        `--initial-cluster-state=${state}`,
        '--initial-cluster-token=perimeter-test',
        '--heartbeat-interval=50',
        '--election-timeout=500',
        '--log-level=error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc.stderr?.on('data', (d: Buffer) => {
      m.log.push(d.toString());
      if (m.log.length > 50) m.log.shift();
    });
    m.proc = proc;
  }

  /** Waits until every running member reports itself healthy. */
  async healthy(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const m of this.members.filter((x) => x.proc)) {
      while (true) {
        try {
          const r = await fetch(`http://127.0.0.1:${m.client}/health`);
          if (r.ok && ((await r.json()) as { health?: string }).health === 'true') break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`etcd member ${m.name} is not healthy:\n${m.log.join('')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Kills one member (SIGKILL: no goodbye to the others). */
  kill(i: number): void {
    const m = this.members[i] as Member;
    m.proc?.kill('SIGKILL');
    m.proc = undefined;
  }

  /** Restarts a killed member with its data. */
  restart(i: number): void {
    const m = this.members[i] as Member;
    if (!m.proc) this.launch(m, 'existing');
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(
        (m) =>
          new Promise<void>((resolve) => {
            if (!m.proc || m.proc.exitCode !== null) return resolve();
            m.proc.once('exit', () => resolve());
            m.proc.kill('SIGTERM');
          }),
      ),
    );
    rmSync(this.root, { recursive: true, force: true });
  }
}
