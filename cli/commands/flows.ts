/**
 * `perimeter flows`: the flows the control server has recorded from its sidecars' access logs
 * (`<state>/flows`), busiest first. Reads the store while the server writes it.
 */
import { join } from 'node:path';
import { type Flow, FlowStore } from '../../control/flows/store.js';
import { DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { paint, table } from '../support/output.js';
import { inert, sinceArg } from '../support/recorded.js';
import { UsageError } from '../support/targets.js';

const FLAGS = {
  state: flag.withDefault('--state <dir>', 'the control server state directory', DEFAULT_STATE),
  to: flag.string('--to <workload>', 'only flows to this workload'),
  denied: flag.bool('--denied', 'only flows with denied or would-be-denied requests'),
  disagree: flag.bool('--disagree', 'only flows the staged candidates would decide otherwise'),
  since: flag.string('--since <when>', 'only flows seen since: 30m, 2h, 7d, or a date'),
  limit: flag.withDefault('--limit <n>', 'at most this many rows', '50'),
  json: flag.bool('--json', 'machine-readable output'),
};

export const flowsCommand = defineCommand({
  path: ['flows'],
  description: 'the flows the control server recorded from its sidecars (source → destination, method, path template), busiest first',
  flags: FLAGS,
  run: runFlows,
});

function verdicts(f: Flow, stream: NodeJS.WriteStream): string {
  const parts: string[] = [];
  if (f.allowed) parts.push(paint(`${f.allowed} allowed`, 'green', stream));
  if (f.denied) parts.push(paint(`${f.denied} denied`, 'red', stream));
  if (f.wouldDeny) parts.push(paint(`${f.wouldDeny} would deny`, 'yellow', stream));
  if (f.disagree) parts.push(paint(`${f.disagree} candidate would ${f.lastCandidate.replace(':', ' (')})`, 'blue', stream));
  return parts.join(', ');
}

async function runFlows(o: OptionsOf<typeof FLAGS>): Promise<number> {
  const limit = Number(o.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit ${o.limit}: expected a positive integer`);
  const sinceMs = o.since ? sinceArg(o.since) : undefined;
  const flows = await FlowStore.read(o.state, {
    ...(o.to ? { to: o.to } : {}),
    ...(o.denied ? { denied: true } : {}),
    ...(o.disagree ? { disagree: true } : {}),
    ...(sinceMs !== undefined ? { sinceMs } : {}),
  });
  if (!flows)
    throw new UsageError(
      `no flows recorded under ${join(o.state, 'flows')}: is perimeter serve running there, with sidecars sending access logs?`,
    );
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ flows: flows.slice(0, limit), total: flows.length }, null, 2)}\n`);
    return 0;
  }
  if (flows.length === 0) {
    process.stdout.write('no flows match\n');
    return 0;
  }
  const iso = (t: number) => new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');
  process.stdout.write(
    `${table(
      ['SOURCE', 'DESTINATION', 'METHOD', 'PATH', 'REQUESTS', 'VERDICTS', 'LAST SEEN', 'LAST RULE'],
      flows
        .slice(0, limit)
        .map(inert)
        .map((f) => [
          f.source ?? 'unauthenticated',
          f.destination,
          f.method,
          f.template,
          String(f.count),
          verdicts(f, process.stdout),
          iso(f.lastMs),
          f.lastRule,
        ]),
    )}\n`,
  );
  if (flows.length > limit) process.stdout.write(`… and ${flows.length - limit} more (--limit)\n`);
  return 0;
}
