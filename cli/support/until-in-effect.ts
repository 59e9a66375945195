/**
 * What quarantine and release share: they return once every connected sidecar has ACKed the
 * policy that carries the change, so "done" means "in effect", and say how long that took.
 */
import { printable } from '../../control/flows/recorded.js';
import type { QuarantineEntry } from '../../control/serve/quarantine.js';
import type { ReplicaReport, StatusReport } from '../../control/serve/status.js';
import type { EtcdHistory } from '../../control/store/etcd-history.js';
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
  store?: EtcdHistory,
): Promise<number> {
  const waitMs = Number(o.wait);
  const read = store ? () => store.replicas() : () => admin(o.state, '/status') as Promise<StatusReport>;
  const sync = await untilInSync(read, change.published?.seq, Number.isFinite(waitMs) ? waitMs : 5000);
  const seconds = (performance.now() - started) / 1000;
  const behind = sync.sidecars.filter((s) => !s.inSync);
  const all = sum(sync.sidecars);
  const late = sum(behind);
  const names = [...new Set(behind.map((s) => s.identity))];
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ ...change, seconds, sidecars: all, behind: names, behindCount: late }, null, 2)}\n`);
  } else {
    const e = change.entry;
    const scope = e.both ? 'from and to' : 'from';
    const at = change.published ? ` (snapshot #${change.published.seq} ${change.published.version})` : ' (nothing served yet)';
    process.stdout.write(`${paint(what, what === 'quarantined' ? 'red' : 'green')} ${e.identity}: requests ${scope} it${at}\n`);
    process.stdout.write(
      late === 0
        ? `in effect on ${all} connected sidecar${all === 1 ? '' : 's'} after ${seconds.toFixed(2)} s\n`
        : `${paint(`not yet in effect on ${late} of ${all} sidecars`, 'yellow')} after ${seconds.toFixed(2)} s: ${names.map(printable).join(', ')}\n`,
    );
  }
  return late === 0 ? 0 : EXIT_NOT_CONFIRMED;
}

const sum = (xs: readonly Synced[]) => xs.reduce((n, x) => n + x.count, 0);

interface Synced {
  identity: string;
  inSync: boolean;
  count: number;
}

/**
 * The sidecars, once all ACKed (or at the deadline). With replicas, those of every replica, each
 * replica counted only once it serves the change (before, "in sync" is with the old version).
 */
async function untilInSync(
  read: () => Promise<StatusReport | ReplicaReport[]>,
  seq: number | undefined,
  waitMs: number,
): Promise<{ sidecars: Synced[] }> {
  const deadline = performance.now() + waitMs;
  for (;;) {
    const s = await read();
    const replicas = Array.isArray(s) ? s : s.replicas;
    // Sidecars of identities the registry does not know receive nothing, so there is nothing for them to ACK.
    const sidecars: Synced[] = replicas
      ? replicas.flatMap((r) =>
          r.sidecars
            .filter((c) => c.currentPolicy !== undefined)
            .map((c) => ({
              identity: c.identity,
              inSync: c.inSync && (seq === undefined || (r.serving?.seq ?? 0) >= seq),
              count: c.count,
            })),
        )
      : (s as StatusReport).sidecars.filter((c) => c.currentPolicy !== undefined).map((c) => ({ ...c, count: 1 }));
    if (sidecars.every((c) => c.inSync) || performance.now() >= deadline) return { sidecars };
    await new Promise((r) => setTimeout(r, 20));
  }
}
