/**
 * The control server side of the convergence benchmark, in a process of its own so its memory
 * is measured alone: an mTLS XdsServer over a snapshot of N synthetic workloads. Driven over IPC:
 * `publish` swaps in the next policy version; `memory` reports usage after a full GC; `drain`
 * returns the convergence samples (publication → ACK, per sidecar) gathered since the last call.
 */
import { compile } from '../../control/compile/compile.js';
import { snapshotOf } from '../../control/serve/publisher.js';
import { SnapshotCache } from '../../control/xds/cache.js';
import { XdsServer } from '../../control/xds/server.js';
import { syntheticPolicy } from '../fixtures.js';

interface Init {
  workloads: number;
  tls: { caPem: string; certPem: string; keyPem: string; trustDomain: string };
}

const init = JSON.parse(process.argv[2] as string) as Init;
const module = { filename: '/etc/perimeter/perimeter.wasm', sha256: '0'.repeat(64) };
const policy = syntheticPolicy(init.workloads, 10);
const cache = new SnapshotCache();
let samples: number[] = [];
let acks = 0;
let publishedAt = 0;
let lastPush = 0;
const server = new XdsServer({
  cache,
  tls: init.tls,
  events: {
    push: () => {
      lastPush = Date.now();
    },
    ack: (_s, _t, _v, _p, convergenceMs) => {
      acks++;
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
  const workloads = r.workloads.map((w) => ({ name: w.workload.name, identity: w.workload.identity, version: w.version, bytes: w.bytes }));
  const snapshot = snapshotOf(workloads, module, 'perimeter.authz');
  publishedAt = Date.now();
  cache.setAll(snapshot);
  return publishedAt;
}

publish(0);
const port = await server.listen('127.0.0.1:0');
const send = (m: unknown) => process.send?.(m);
send({ ready: port, identities: policy.workloads.map((w) => w.identity) });

process.on('message', (m: { cmd: string; k?: number }) => {
  if (m.cmd === 'publish') send({ published: publish(m.k ?? 1) });
  else if (m.cmd === 'memory') {
    globalThis.gc?.();
    globalThis.gc?.();
    const u = process.memoryUsage();
    send({ memory: { rss: u.rss, heapTotal: u.heapTotal, heap: u.heapUsed, external: u.external, streams: server.streams.size } });
  } else if (m.cmd === 'drain') {
    send({ samples, acks, streams: server.streams.size, pushSpanMs: lastPush - publishedAt });
    samples = [];
    acks = 0;
  } else if (m.cmd === 'stop') void server.stop(1_000).then(() => process.exit(0));
});
