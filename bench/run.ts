/**
 * `npm run bench [-- --quick] [--json] [suite…]`: runs the suites, each in a Node process of its
 * own (with its own V8 flags, and no heap left behind by another suite), prints their tables and
 * budgets, and merges the results into bench/results/latest.json, from which bench/RESULTS.md
 * and the SVG charts are rendered. `--quick` runs every suite briefly and writes under
 * bench/results/quick/ instead (CI's smoke run); `--report` only re-renders from latest.json.
 * Exit 1 when a suite fails; a missed budget is reported, not an error.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { table } from '../cli/support/output.js';
import { renderReport } from './report.js';
import type { Machine, Store, StoredSuite, SuiteResult } from './types.js';

interface SuiteSpec {
  module: string;
  about: string;
  /** Node flags of the suite's process. */
  flags?: string[];
  options?: Record<string, unknown>;
}

export const SUITES: Record<string, SuiteSpec> = {
  decision: { module: './suites/decision.js', about: 'decision cost vs rule count, ours and the peers' },
  'decision-no-liftoff': {
    module: './suites/decision.js',
    about: 'our Wasm figures with V8 optimising tier only, as Envoy runs Wasm',
    flags: ['--no-liftoff'],
    options: { wasmOnly: true },
  },
  memory: { module: './suites/memory.js', about: 'Wasm memory over 10 million requests' },
  compile: { module: './suites/compile.js', about: 'compile 10,000 perimeters × 10 rules' },
  analysis: { module: './suites/analysis.js', about: 'verify, lint and diff --semantic over 10,000 perimeters × 10 rules' },
  xds: { module: './suites/xds.js', about: 'a policy change reaching N sidecars over ADS; server memory per sidecar' },
  sidecar: { module: './suites/sidecar.js', about: 'the local sidecar with and without the filter (autocannon)' },
  ha: {
    module: './suites/ha.js',
    about: 'replicas on etcd: a change to N sidecars over 3 replicas, quarantine, leader and follower killed',
  },
};

const here = import.meta.dirname;
const args = process.argv.slice(2);
const flag = (f: string) => args.includes(f);
const optionValue = (f: string) => {
  const i = args.indexOf(f);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = flag('--quick');

function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '';
  return x < 10 ? x.toFixed(3) : x < 1e6 ? x.toFixed(1) : x.toExponential(3);
}

function printSuite(r: SuiteResult): void {
  process.stdout.write(
    `\n${table(
      ['BENCHMARK', 'MEDIAN', 'P99', 'MIN', 'MAX', 'UNIT', 'SAMPLES'],
      r.rows.map((row) => [row.name, fmt(row.median), fmt(row.p99), fmt(row.min), fmt(row.max), row.unit, String(row.samples)]),
    )}\n`,
  );
  for (const b of r.budgets)
    process.stdout.write(`budget ${b.name}: ${fmt(b.measured)} ${b.unit} (limit ${b.limit}) ${b.met ? 'MET' : 'MISSED'}\n`);
}

function version(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(here, '..', 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

function machine(): Machine {
  let commit = '?';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    if (
      execFileSync('git', ['status', '--porcelain', '--', '.', ':!bench/results', ':!bench/RESULTS.md'], {
        encoding: 'utf8',
        cwd: join(here, '..'),
      }).trim()
    )
      commit += '+changes';
  } catch {}
  return {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model ?? '?',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
    v8: process.versions.v8,
    commit,
    versions: Object.fromEntries(
      ['assemblyscript', 'tinybench', 'autocannon', '@grpc/grpc-js-xds', '@cedar-policy/cedar-wasm', 'casbin', '@grpc/grpc-js'].map((p) => [
        p,
        version(p),
      ]),
    ),
  };
}

// A suite's own process: run it, print it, hand the result back through a file.
const child = optionValue('--child');
if (child) {
  const spec = SUITES[child];
  if (!spec) throw new Error(`unknown suite ${child}`);
  const t0 = performance.now();
  const suite = (await import(spec.module)) as { run(o: Record<string, unknown>): Promise<SuiteResult> };
  const result = await suite.run({ quick, ...spec.options });
  printSuite(result);
  const stored: StoredSuite = {
    date: new Date().toISOString(),
    quick,
    flags: spec.flags ?? [],
    seconds: Math.round((performance.now() - t0) / 1000),
    result,
  };
  writeFileSync(optionValue('--out') as string, JSON.stringify(stored));
  process.exit(0);
}

const dir = quick ? join(here, 'results', 'quick') : join(here, 'results');
const storeFile = join(dir, 'latest.json');
mkdirSync(dir, { recursive: true });
const store: Store = existsSync(storeFile) ? (JSON.parse(readFileSync(storeFile, 'utf8')) as Store) : { machine: machine(), suites: {} };

function render(): void {
  const { markdown, files } = renderReport(store, { quick });
  const md = quick ? join(dir, 'RESULTS.md') : join(here, 'RESULTS.md');
  writeFileSync(md, markdown);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  process.stderr.write(`wrote ${md} and ${Object.keys(files).join(', ')} in ${dir}\n`);
}

if (flag('--report')) {
  render();
  process.exit(0);
}

const chosen = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--out');
for (const n of chosen) if (!SUITES[n]) throw new Error(`unknown suite ${n} (known: ${Object.keys(SUITES).join(', ')})`);
const names = chosen.length ? chosen : Object.keys(SUITES);
const scratch = mkdtempSync(join(tmpdir(), 'perimeter-bench-'));
const started = Date.now();
const failed: string[] = [];
for (const [i, name] of names.entries()) {
  const spec = SUITES[name] as SuiteSpec;
  const elapsed = Math.round((Date.now() - started) / 1000);
  process.stderr.write(`\n[${i + 1}/${names.length}] ${name}${quick ? ' (quick)' : ''}: ${spec.about} (${elapsed} s elapsed)\n`);
  const out = join(scratch, `${name}.json`);
  const r = spawnSync(
    process.execPath,
    [...(spec.flags ?? []), '--import', 'tsx', join(here, 'run.ts'), '--child', name, '--out', out, ...(quick ? ['--quick'] : [])],
    {
      stdio: 'inherit',
    },
  );
  if (r.status !== 0 || !existsSync(out)) {
    failed.push(name);
    process.stderr.write(`${name}: failed (exit ${r.status ?? r.signal})\n`);
    continue;
  }
  store.suites[name] = JSON.parse(readFileSync(out, 'utf8')) as StoredSuite;
  store.machine = machine();
  // Saved after every suite: an interrupted run keeps what it finished.
  writeFileSync(storeFile, `${JSON.stringify(store, null, 2)}\n`);
}
render();
if (flag('--json')) process.stdout.write(`${JSON.stringify(store, null, 2)}\n`);
const budgets = Object.values(store.suites).flatMap((s) => s.result.budgets);
process.stderr.write(
  `\n${names.length - failed.length}/${names.length} suites in ${Math.round((Date.now() - started) / 1000)} s` +
    (budgets.length ? `; budgets: ${budgets.filter((b) => b.met).length} met, ${budgets.filter((b) => !b.met).length} missed` : '') +
    (failed.length ? `; failed: ${failed.join(', ')}` : '') +
    '\n',
);
process.exit(failed.length ? 1 : 0);
