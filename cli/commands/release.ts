/** `perimeter release`: lifts a quarantine through the running control server, and waits until it is in effect. */
import { adminPost } from '../support/admin-client.js';
import { arg, DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { STORE_FLAGS, storeQuarantineChange } from '../support/store.js';
import { type Change, report } from '../support/until-in-effect.js';

const ARGS = { identity: arg('<spiffe-id>', 'the quarantined identity') };
const FLAGS = {
  state: flag.withDefault('--state <dir>', 'state directory of the running server', DEFAULT_STATE),
  wait: flag.withDefault('--wait <ms>', 'how long to wait for the sidecars’ ACKs', '5000'),
  json: flag.bool('--json', 'machine-readable output'),
  ...STORE_FLAGS,
};

export const releaseCommand = defineCommand({
  path: ['release'],
  description: 'lift a quarantine; waits until the connected sidecars ACK (exit 5 if some did not in time)',
  args: ARGS,
  flags: FLAGS,
  run: runRelease,
});

async function runRelease(o: OptionsOf<typeof FLAGS, typeof ARGS>): Promise<number> {
  const identity = o.identity;
  if (o.store) return storeQuarantineChange({ ...o, store: o.store }, 'release', { identity, both: false, reason: '', since: '' });
  const started = performance.now();
  const change = (await adminPost(o.state, '/release', { identity })) as Change;
  return report('released', change, started, o);
}
