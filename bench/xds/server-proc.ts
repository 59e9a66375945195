/**
 * The control server side of the convergence benchmark, in a process of its own so its memory
 * is measured alone: an mTLS XdsServer over a snapshot of N synthetic workloads, or (mode
 * `baseline`) a bare node:http2 server holding the same mTLS connections and streams. Driven over
 * IPC: `publish` swaps in the next policy version; `memory` reports usage after a full GC;
 * `drain` returns the convergence samples (publication → ACK, per sidecar) since the last call
 * and the CPU time spent since the publication; `quarantine` lays a quarantine of one identity
 * over the last published policies (or lifts it), as `perimeter quarantine` and `release` do.
 */
import { createSecureServer, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { compile } from '../../control/compile/compile.js';
import type { PublishedWorkload } from '../../control/serve/published.js';
import { snapshotOf } from '../../control/serve/publisher.js';
import { quarantineWorkloads } from '../../control/serve/quarantine.js';
import { SnapshotCache } from '../../control/xds/cache.js';
import { XdsServer } from '../../control/xds/server.js';
import { syntheticPolicy } from '../fixtures.js';

interface Init {
  workloads: number;
  mode: 'sotw' | 'delta' | 'baseline';
  tls: { caPem: string; certPem: string; keyPem: string; trustDomain: string };
}

const init = JSON.parse(process.argv[2] as string) as Init;
const module = { filename: '/etc/perimeter/perimeter.wasm', sha256: '0'.repeat(64) };
const policy = syntheticPolicy(init.workloads, 10);
const cache = new SnapshotCache();
let samples: number[] = [];
let cpuAt = process.cpuUsage();
let published: PublishedWorkload[] = [];
const server = new XdsServer({
  cache,
  tls: init.tls,
  events: {
    ack: (_s, _t, _v, _p, convergenceMs) => {
      if (convergenceMs !== undefined) samples.push(convergenceMs);
    },
  },
});

function publish(k: number): number {
  for (const p of policy.perimeters) {
    p.mode = k % 2 ? 'simulate' : 'enforce';
    (p.rules[0] as { name: string }).name = `rule-0-v${k}`;
  }
  const r = compile(policy);
  published = r.workloads.map((w) => ({ name: w.workload.name, identity: w.workload.identity, version: w.version, bytes: w.bytes }));
  return swap(published);
}

function swap(workloads: PublishedWorkload[]): number {
  const at = Date.now();
  cpuAt = process.cpuUsage();
  cache.setAll(snapshotOf(workloads, module, 'perimeter.authz'));
  return at;
}

/** The server's part of a quarantine: the overlay on every workload, then the push. Timed from the request. */
function quarantine(identity: string | undefined): number {
  const at = Date.now();
  const entries = identity ? [{ identity, both: false, reason: 'bench', since: '' }] : [];
  swap(quarantineWorkloads(published, '', entries).workloads);
  return at;
}

const bare: ServerHttp2Stream[] = [];
async function listen(): Promise<number> {
  if (init.mode !== 'baseline') {
    publish(0);
    return server.listen('127.0.0.1:0');
  }
  const t = init.tls;
  const s = createSecureServer({ ca: t.caPem, cert: t.certPem, key: t.keyPem, requestCert: true, rejectUnauthorized: true });
  s.on('stream', (st) => {
    st.respond({ ':status': 200, 'content-type': 'application/grpc' });
    st.on('data', () => {});
    bare.push(st);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
}

const port = await listen();
const send = (m: unknown) => process.send?.(m);
send({ ready: port, identities: policy.workloads.map((w) => w.identity) });

process.on('message', (m: { cmd: string; k?: number; identity?: string }) => {
  if (m.cmd === 'publish') send({ published: publish(m.k ?? 1) });
  else if (m.cmd === 'quarantine') send({ quarantined: quarantine(m.identity) });
  else if (m.cmd === 'memory') {
    globalThis.gc?.();
    globalThis.gc?.();
    const u = process.memoryUsage();
    send({ memory: { rss: u.rss, heapTotal: u.heapTotal, heap: u.heapUsed, external: u.external } });
  } else if (m.cmd === 'drain') {
    const cpu = process.cpuUsage(cpuAt);
    send({ samples, cpuMs: (cpu.user + cpu.system) / 1000 });
    samples = [];
  } else if (m.cmd === 'stop') {
    if (init.mode === 'baseline') process.exit(0);
    void server.stop(1_000).then(() => process.exit(0));
  }
});
