/**
 * `perimeter quarantine` and `perimeter release`: containment through the running control
 * server. The command returns once every connected sidecar has ACKed the policy that carries
 * the change, so "done" means "in effect", and says how long that took.
 */
import type { QuarantineEntry } from '../control/serve/quarantine.js';
import type { StatusReport } from '../control/serve/status.js';
import { admin, adminPost } from './admin-client.js';
import { paint, table } from './output.js';

interface Options {
  state: string;
  both?: boolean;
  reason?: string;
  wait: string;
  json?: boolean;
}

interface Change {
  entry: QuarantineEntry;
  published: { version: string; seq: number } | undefined;
}

/** Exit code when some connected sidecar has not ACKed the change within --wait. */
export const EXIT_NOT_CONFIRMED = 5;

export async function runQuarantine(identity: string | undefined, o: Options): Promise<number> {
  if (!identity) {
    const list = (await admin(o.state, '/quarantine')) as QuarantineEntry[];
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
  const started = performance.now();
  const change = (await adminPost(o.state, '/quarantine', { identity, both: o.both === true, reason: o.reason ?? '' })) as Change;
  return report('quarantined', change, started, o);
}

export async function runRelease(identity: string, o: Options): Promise<number> {
  const started = performance.now();
  const change = (await adminPost(o.state, '/release', { identity })) as Change;
  return report('released', change, started, o);
}

async function report(what: string, change: Change, started: number, o: Options): Promise<number> {
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
