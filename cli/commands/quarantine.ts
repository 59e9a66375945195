/**
 * `perimeter quarantine`: containment through the running control
 * server. The command returns once every connected sidecar has ACKed the policy that carries
 * the change, so "done" means "in effect", and says how long that took.
 */
import { checkIdentity, type QuarantineEntry } from '../../control/serve/quarantine.js';
import { admin, adminPost } from '../support/admin-client.js';
import { arg, DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { table } from '../support/output.js';
import { STORE_FLAGS, storeQuarantineChange, withStore } from '../support/store.js';
import { UsageError } from '../support/targets.js';
import { type Change, report } from '../support/until-in-effect.js';

const ARGS = { identity: arg('[spiffe-id]', 'the identity to contain') };
const FLAGS = {
  both: flag.bool('--both', 'also deny every request to the identity’s own workload'),
  reason: flag.string('--reason <text>', 'why (kept in the history and shown in the list)'),
  state: flag.withDefault('--state <dir>', 'state directory of the running server', DEFAULT_STATE),
  wait: flag.withDefault('--wait <ms>', 'how long to wait for the sidecars’ ACKs', '5000'),
  json: flag.bool('--json', 'machine-readable output'),
  ...STORE_FLAGS,
};

export const quarantineCommand = defineCommand({
  path: ['quarantine'],
  description:
    'deny every request from an identity (and with --both, to it) on every sidecar, now; waits until the connected sidecars ACK (exit 5 if some did not in time). Without an identity: the list',
  args: ARGS,
  flags: FLAGS,
  run: runQuarantine,
});

async function runQuarantine(o: OptionsOf<typeof FLAGS, typeof ARGS>): Promise<number> {
  const identity = o.identity;
  if (!identity) {
    const list = o.store
      ? await withStore(o, async (s) => (await s.quarantine()).list)
      : ((await admin(o.state, '/quarantine')) as QuarantineEntry[]);
    if (o.json) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    else if (list.length === 0) process.stdout.write('no identity is quarantined\n');
    else
      process.stdout.write(
        `${table(
          ['IDENTITY', 'DENIED', 'SINCE', 'REASON'],
          list.map((e) => [e.identity, e.both ? 'from and to' : 'from', e.since, e.reason || '-']),
        )}\n`,
      );
    return 0;
  }
  if (o.store) {
    const bad = checkIdentity(identity);
    if (bad) throw new UsageError(bad);
    const entry = { identity, both: o.both === true, reason: o.reason ?? '', since: new Date().toISOString() };
    return storeQuarantineChange({ ...o, store: o.store }, 'quarantine', entry);
  }
  const started = performance.now();
  const change = (await adminPost(o.state, '/quarantine', { identity, both: o.both === true, reason: o.reason ?? '' })) as Change;
  return report('quarantined', change, started, o);
}
