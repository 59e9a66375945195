/** `perimeter versions`: the published versions, newest last. */

import type { HistoryEntry } from '../../control/serve/history.js';
import { DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { openHistory } from '../support/history.js';
import { paint, table } from '../support/output.js';
import { STORE_FLAGS, storeName, storeOfState, withStore } from '../support/store.js';
import { UsageError } from '../support/targets.js';

const FLAGS = {
  state: flag.withDefault('--state <dir>', 'state directory', DEFAULT_STATE),
  json: flag.bool('--json', 'machine-readable output'),
  ...STORE_FLAGS,
};

export const versionsCommand = defineCommand({
  path: ['versions'],
  description: 'the published versions, newest last',
  flags: FLAGS,
  run: runVersions,
});

async function runVersions(flags: OptionsOf<typeof FLAGS>): Promise<number> {
  const o = storeOfState(flags);
  const entries: readonly HistoryEntry[] = o.store ? await withStore(o, (s) => s.entries()) : openHistory(o.state).entries();
  if (entries.length === 0) throw new UsageError(`no published versions in ${o.store ? storeName(o) : o.state}`);
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
