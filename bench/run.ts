/**
 * `npm run bench [-- --quick] [suite…]`: runs the benchmark suites, prints their tables and
 * budgets, and writes bench/results/<suite>.json (quick runs: <suite>.quick.json, not committed).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { table } from '../control/cli/output.js';
import type { SuiteResult } from './types.js';

const SUITES: Record<string, () => Promise<{ run: (o: { quick: boolean }) => Promise<SuiteResult> }>> = {
  compile: () => import('./suites/compile.js'),
  filter: () => import('./suites/filter.js'),
  xds: () => import('./suites/xds.js'),
  sidecar: () => import('./suites/sidecar.js'),
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const chosen = args.filter((a) => !a.startsWith('--'));
const names = chosen.length ? chosen : Object.keys(SUITES);
for (const n of names) if (!SUITES[n]) throw new Error(`unknown suite ${n} (known: ${Object.keys(SUITES).join(', ')})`);

// Several suites: each runs in a process of its own (same Node flags), so no suite measures
// the heap another one left behind.
if (names.length > 1) {
  let failed = 0;
  for (const [i, n] of names.entries()) {
    process.stderr.write(`[${i + 1}/${names.length}] ${n}${quick ? ' (quick)' : ''}\n`);
    const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1] as string, n, ...(quick ? ['--quick'] : [])], {
      stdio: 'inherit',
    });
    if (r.status !== 0) failed++;
  }
  process.exit(failed ? 1 : 0);
}

const results: SuiteResult[] = [];
for (const [i, n] of names.entries()) {
  process.stderr.write(`[${i + 1}/${names.length}] ${n}${quick ? ' (quick)' : ''}\n`);
  const suite = await (SUITES[n] as () => Promise<{ run: (o: { quick: boolean }) => Promise<SuiteResult> }>)();
  const r = await suite.run({ quick });
  results.push(r);
  const fmt = (x: number | undefined) => (x === undefined ? '' : x < 10 ? x.toFixed(3) : x.toFixed(1));
  process.stdout.write(
    `\n${table(
      ['BENCHMARK', 'MEDIAN', 'P99', 'MIN', 'MAX', 'UNIT', 'SAMPLES'],
      r.rows.map((row) => [row.name, fmt(row.median), fmt(row.p99), fmt(row.min), fmt(row.max), row.unit, String(row.samples)]),
    )}\n`,
  );
  for (const b of r.budgets)
    process.stdout.write(`budget ${b.name}: ${fmt(b.measured)} ${b.unit} (limit ${b.limit}) ${b.met ? 'MET' : 'MISSED'}\n`);
}

const machine = {
  cpus: os.cpus().length,
  model: os.cpus()[0]?.model,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  flags: process.execArgv.filter((a) => a.startsWith('--') && !a.startsWith('--import')),
  platform: `${os.platform()} ${os.release()}`,
};
const dir = join(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
// One file per suite, so running one suite never overwrites another's figures.
for (const r of results) {
  const file = join(dir, quick ? `${r.suite}.quick.json` : `${r.suite}.json`);
  writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), quick, machine, result: r }, null, 2)}\n`);
}
