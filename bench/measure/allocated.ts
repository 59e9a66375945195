/**
 * Bytes the JavaScript heap gains per call of `f`: the young generation's growth over a run in
 * which no garbage collection happened (a run a collection fell into is measured again). What
 * the call leaves as garbage is counted, and so is what it keeps.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

const newSpaceUsed = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_used_size ?? Number.NaN;
const tick = () => new Promise((r) => setTimeout(r, 5));

export async function bytesPerCall(f: () => void, calls = 2_000, tries = 8): Promise<number> {
  let collections = 0;
  const observer = new PerformanceObserver((list) => {
    collections += list.getEntries().length;
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    for (let t = 0; t < tries; t++) {
      await tick(); // let a pending collection be reported before the run starts
      const seen = collections;
      const before = newSpaceUsed();
      for (let i = 0; i < calls; i++) f();
      const after = newSpaceUsed();
      await tick();
      if (collections === seen && after >= before) return (after - before) / calls;
    }
    return Number.NaN;
  } finally {
    observer.disconnect();
  }
}
