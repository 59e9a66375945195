/** `perimeter versions`, `diff`, `rollback` and `status`: the history and the running server. */

import { printable } from '../control/flows/recorded.js';
import { diffVersions } from '../control/serve/diff.js';
import { History, HistoryError } from '../control/serve/history.js';
import type { StatusReport } from '../control/serve/status.js';
import type { CompiledPolicy } from '../proto/gen/perimeter/v1/compiled.js';
import { admin, adminPost } from './admin-client.js';
import { cell, paint, table } from './output.js';
import { UsageError } from './targets.js';

function openHistory(state: string): History {
  const h = History.existing(state);
  if (!h || h.entries().length === 0)
    throw new UsageError(`no published versions under ${state}/history (has perimeter serve --state ${state} run?)`);
  return h;
}

function guard<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof HistoryError) throw new UsageError(e.message);
    throw e;
  }
}

export function runVersions(o: { state: string; json?: boolean }): number {
  const h = openHistory(o.state);
  const entries = h.entries();
  if (o.json) {
    process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
    return 0;
  }
  const rows = entries.map((e) => [
    `#${e.seq}`,
    e.version,
    e.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    e.reason === 'rollback'
      ? paint(`rollback to #${e.rollbackOf}`, 'yellow')
      : e.reason === 'quarantine' || e.reason === 'release'
        ? paint(
            `${e.reason} ${e.quarantine?.identity ?? ''}${e.quarantine?.both ? ' (from and to)' : ''}`,
            e.reason === 'quarantine' ? 'red' : 'green',
          )
        : 'publish',
    String(e.workloads.length),
    e.summary.join('; ') || '(no change)',
  ]);
  process.stdout.write(`${table(['#', 'VERSION', 'TIME', 'REASON', 'WORKLOADS', 'CHANGES'], rows)}\n`);
  return 0;
}

export function runDiff(a: string, b: string, o: { state: string; json?: boolean }): number {
  const h = openHistory(o.state);
  const [ea, eb] = guard(() => [h.find(a), h.find(b)]);
  const pa: Map<string, CompiledPolicy> = guard(() => h.policies(ea));
  const pb: Map<string, CompiledPolicy> = guard(() => h.policies(eb));
  const diffs = diffVersions(pa, pb);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ from: ea, to: eb, workloads: diffs }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(`#${ea.seq} ${ea.version} → #${eb.seq} ${eb.version}\n`);
  if (diffs.length === 0) {
    process.stdout.write('no workload changed\n');
    return 0;
  }
  for (const d of diffs) {
    process.stdout.write(`\n${paint(d.workload, 'bold')}${d.status === 'changed' ? '' : ` (${d.status})`}\n`);
    for (const m of d.modes) process.stdout.write(`  ${paint('~', 'yellow')} mode ${m}\n`);
    for (const r of d.rulesAdded) process.stdout.write(`  ${paint('+', 'green')} ${r}\n`);
    for (const r of d.rulesRemoved) process.stdout.write(`  ${paint('-', 'red')} ${r}\n`);
    for (const r of d.rulesChanged) process.stdout.write(`  ${paint('~', 'yellow')} ${r}\n`);
  }
  return 0;
}

export async function runRollback(to: string, o: { state: string; json?: boolean }): Promise<number> {
  const r = (await adminPost(o.state, '/rollback', { to })) as { version: string; seq: number; summary: string[]; workloads: number };
  if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else
    process.stdout.write(
      `rolled back: now serving ${r.version} as #${r.seq} (until the policy directory changes)\n${r.summary.map((l) => `  ${l}\n`).join('')}`,
    );
  return 0;
}

export async function runStatus(o: { state: string; json?: boolean }): Promise<number> {
  const s = (await admin(o.state, '/status')) as StatusReport;
  if (o.json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return 0;
  }
  const snap = s.snapshot;
  process.stdout.write(
    `control server pid ${s.server.pid}, xDS ${s.server.xds} (${s.server.secure ? `mTLS, trust domain ${s.server.trustDomain}` : paint('insecure', 'yellow')}), admin ${s.server.admin}\n`,
  );
  process.stdout.write(
    snap
      ? `serving ${snap.version} (#${snap.seq ?? '-'}, ${snap.origin}) since ${snap.publishedAt}, ${snap.workloads} workloads\n`
      : `${paint('serving nothing', 'red')}: the policy has never loaded\n`,
  );
  if (s.lastRejected)
    process.stdout.write(
      `${paint('last change rejected', 'red')} at ${s.lastRejected.at} (${s.lastRejected.errors} errors):\n${s.lastRejected.messages.map((m) => `  ${printable(m)}\n`).join('')}`,
    );
  process.stdout.write('\n');
  const rows = s.sidecars.map((c) => [
    c.identity,
    c.workload ?? paint('(no workload)', 'yellow'),
    `${c.service}/${c.transport}`,
    c.ackedPolicy ?? '-',
    c.inSync ? paint('in sync', 'green') : paint('behind', 'yellow'),
    c.lastNack ? paint(`${c.lastNack.at}: ${c.lastNack.message}`, 'red') : '-',
  ]);
  process.stdout.write(
    rows.length ? `${table(['SIDECAR', 'WORKLOAD', 'STREAM', 'ACKED POLICY', 'STATE', 'LAST NACK'], rows)}\n` : 'no sidecars connected\n',
  );
  for (const q of s.quarantine ?? [])
    process.stdout.write(
      `${cell(`${paint('quarantined', 'red')} ${q.identity} (${q.both ? 'from and to' : 'from'}) since ${q.since}${q.reason ? `: ${q.reason}` : ''}`)}\n`,
    );
  return 0;
}
