/**
 * `npm run differential [-- --cases N] [-- --seed S]`: a larger differential run than CI's,
 * with a random seed by default (printed, so any failure can be replayed).
 */
import { parseArgs } from 'node:util';
import { runDifferential } from './run.js';

const { values } = parseArgs({ options: { cases: { type: 'string', default: '1000000' }, seed: { type: 'string' } } });
const seed = values.seed ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const requestsPerPolicy = 250;
const policies = Math.ceil(Number(values.cases) / requestsPerPolicy);
const started = Date.now();
process.stderr.write(`differential: seed ${seed}, ${policies * requestsPerPolicy} cases\n`);
const result = runDifferential({
  seed,
  policies,
  requestsPerPolicy,
  onProgress: (done) => {
    if (done % 50_000 === 0) process.stderr.write(`  ${done.toLocaleString()} cases, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  },
});
for (const d of result.disagreements) process.stdout.write(`${JSON.stringify(d)}\n`);
process.stdout.write(
  `${result.cases} cases (${result.rbacCases} also through export rbac), ${result.disagreements.length} disagreements (seed ${seed})\n`,
);
process.exitCode = result.disagreements.length ? 1 : 0;
