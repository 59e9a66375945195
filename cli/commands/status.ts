/** `perimeter status`: the running control server, its snapshot and what each sidecar ACKed. */
import { printable } from '../../control/flows/recorded.js';
import type { StatusReport } from '../../control/serve/status.js';
import { admin } from '../support/admin-client.js';
import { DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { cell, paint, table } from '../support/output.js';

const FLAGS = {
  state: flag.withDefault('--state <dir>', 'state directory of the running server', DEFAULT_STATE),
  json: flag.bool('--json', 'machine-readable output'),
};

export const statusCommand = defineCommand({
  path: ['status'],
  description: 'the running control server: snapshot, rejected changes, connected sidecars and what they ACKed',
  flags: FLAGS,
  run: runStatus,
});

async function runStatus(o: OptionsOf<typeof FLAGS>): Promise<number> {
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
