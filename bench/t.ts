import { HostEngine } from './engines/perimeter.js';
import { benchRequests, compiledTarget } from './policies.js';
const h = new HostEngine(compiledTarget(10).bytes);
const r = h.prepare(benchRequests(10)[0]!.request);
for (let k = 0; k < 5; k++) {
  const t0 = performance.now();
  for (let i = 0; i < 200_000; i++) h.decide(r);
  console.log(((performance.now() - t0) / 200_000 * 1e6).toFixed(0), 'ns');
}
