/** `perimeter status`: the running control server, its snapshot and what each sidecar ACKed. */
import { printable } from '../../control/flows/recorded.js';
import type { ReplicaReport, StatusReport } from '../../control/serve/status.js';
import { countSidecars } from '../../control/store/replica-record.js';
import { admin } from '../support/admin-client.js';
import { DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { cell, paint, table } from '../support/output.js';
import { STORE_FLAGS, type StoreFlags, storeName, withStore } from '../support/store.js';

const FLAGS = {
  state: flag.withDefault('--state <dir>', 'state directory of the running server', DEFAULT_STATE),
  json: flag.bool('--json', 'machine-readable output'),
  ...STORE_FLAGS,
};

export const statusCommand = defineCommand({
  path: ['status'],
  description: 'the running control server: snapshot, rejected changes, connected sidecars and what they ACKed',
  flags: FLAGS,
  run: runStatus,
});

async function runStatus(o: OptionsOf<typeof FLAGS>): Promise<number> {
  if (o.store) return storeStatus({ ...o, store: o.store });
  const s = (await admin(o.state, '/status')) as StatusReport;
  if (o.json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return 0;
  }
  const snap = s.snapshot;
  process.stdout.write(
    `control server pid ${s.server.pid}, xDS ${s.server.xds} (${s.server.secure ? `mTLS, trust domain ${s.server.trustDomain}` : paint('insecure', 'yellow')}), admin ${s.server.admin}\n`,
  );
  const role = s.server.replica;
  if (role)
    process.stdout.write(
      `replica ${role.id} of ${role.store}: ${role.leader ? paint('leader', 'green') : `follower (leader ${role.leaderId ?? paint('none yet', 'yellow')})`}${role.storeProblem ? `, ${paint(`store: ${printable(role.storeProblem)}`, 'red')}` : ''}\n`,
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
  if (s.replicas) process.stdout.write(`\n${replicaTable(s.replicas)}\n`);
  for (const q of s.quarantine ?? [])
    process.stdout.write(
      `${cell(`${paint('quarantined', 'red')} ${q.identity} (${q.both ? 'from and to' : 'from'}) since ${q.since}${q.reason ? `: ${q.reason}` : ''}`)}\n`,
    );
  return 0;
}

function inSyncOf(r: ReplicaReport): string {
  const n = countSidecars(r.sidecars);
  return `${n.inSync}/${n.all}`;
}

function replicaTable(replicas: readonly ReplicaReport[]): string {
  const rows = [...replicas]
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((r) => [
      printable(r.id),
      r.leader ? paint('leader', 'green') : 'follower',
      printable(r.xds ?? '-'),
      r.serving ? `#${r.serving.seq} ${r.serving.version}` : paint('nothing', 'red'),
      inSyncOf(r),
      r.storeProblem ? paint(printable(r.storeProblem), 'red') : '-',
    ]);
  return table(['REPLICA', 'ROLE', 'XDS', 'SERVING', 'SIDECARS IN SYNC', 'STORE'], rows);
}

/** Status from the store alone: what is current, what is quarantined, and every live replica with its sidecars. */
async function storeStatus(o: StoreFlags & { store: string; json?: boolean | undefined }): Promise<number> {
  const [head, entry, quarantine, rejected, replicas] = await withStore(o, async (s) => {
    const h = await s.head();
    return [h, h.seq ? await s.entry(h.seq) : undefined, (await s.quarantine()).list, await s.rejected(), await s.replicas()] as const;
  });
  if (o.json) {
    const current = entry
      ? { seq: entry.seq, version: entry.version, time: entry.time, reason: entry.reason, workloads: entry.workloads.length }
      : undefined;
    process.stdout.write(`${JSON.stringify({ store: storeName(o), current, quarantine, lastRejected: rejected, replicas }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(
    `store ${storeName(o)}: ${entry ? `current #${head.seq} ${entry.version} (${entry.reason}, ${entry.time}), ${entry.workloads.length} workloads` : paint('nothing published yet', 'yellow')}\n`,
  );
  if (rejected)
    process.stdout.write(`${paint('last change rejected', 'red')} at ${new Date(rejected.at).toISOString()} (${rejected.errors} errors)\n`);
  process.stdout.write(replicas.length ? `\n${replicaTable(replicas)}\n` : `${paint('no replica is running', 'yellow')}\n`);
  for (const r of replicas)
    for (const c of r.sidecars.filter((x) => !x.inSync || x.lastNack))
      process.stdout.write(
        `  ${printable(r.id)}: ${printable(c.identity)}${c.count > 1 ? ` ×${c.count}` : ''} ${c.inSync ? '' : paint('behind', 'yellow')}${c.lastNack ? ` ${paint(printable(c.lastNack), 'red')}` : ''}\n`,
      );
  for (const q of quarantine)
    process.stdout.write(
      `${cell(`${paint('quarantined', 'red')} ${q.identity} (${q.both ? 'from and to' : 'from'}) since ${q.since}${q.reason ? `: ${q.reason}` : ''}`)}\n`,
    );
  return replicas.length ? 0 : 1;
}
