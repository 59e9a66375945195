/**
 * What quarantine and release share: they return once every connected sidecar has ACKed the
 * policy that carries the change, so "done" means "in effect", and say how long that took.
 */
import type { QuarantineEntry } from '../../control/serve/quarantine.js';
import type { StatusReport } from '../../control/serve/status.js';
import { admin } from './admin-client.js';
import { paint } from './output.js';

export interface Change {
  entry: QuarantineEntry;
  published: { version: string; seq: number } | undefined;
}

/** Exit code when some connected sidecar has not ACKed the change within --wait. */
export const EXIT_NOT_CONFIRMED = 5;

export async function report(
  what: string,
  change: Change,
  started: number,
  o: { state: string; wait: string; json?: boolean | undefined },
): Promise<number> {
  const waitMs = Number(o.wait);
  const sync = await untilInSync(o.state, Number.isFinite(waitMs) ? waitMs : 5000);
  const seconds = (performance.now() - started) / 1000;
  const behind = sync.sidecars.filter((s) => !s.inSync);
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({ ...change, seconds, sidecars: sync.sidecars.length, behind: behind.map((s) => s.identity) }, null, 2)}\n`,
    );
  } else {
    const e = change.entry;
    const scope = e.both ? 'from and to' : 'from';
    const at = change.published ? ` (snapshot #${change.published.seq} ${change.published.version})` : ' (nothing served yet)';
    process.stdout.write(`${paint(what, what === 'quarantined' ? 'red' : 'green')} ${e.identity}: requests ${scope} it${at}\n`);
    process.stdout.write(
      behind.length === 0
        ? `in effect on ${sync.sidecars.length} connected sidecar${sync.sidecars.length === 1 ? '' : 's'} after ${seconds.toFixed(2)} s\n`
        : `${paint(`not yet in effect on ${behind.length} of ${sync.sidecars.length} sidecars`, 'yellow')} after ${seconds.toFixed(2)} s: ${behind
            .map((s) => s.identity)
            .join(', ')}\n`,
    );
  }
  return behind.length === 0 ? 0 : EXIT_NOT_CONFIRMED;
}

async function untilInSync(state: string, waitMs: number): Promise<StatusReport> {
  const deadline = performance.now() + waitMs;
  for (;;) {
    const s = (await admin(state, '/status')) as StatusReport;
    // Sidecars of identities the registry does not know receive nothing, so there is nothing for them to ACK.
    s.sidecars = s.sidecars.filter((c) => c.currentPolicy !== undefined);
    if (s.sidecars.every((c) => c.inSync) || performance.now() >= deadline) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
}
