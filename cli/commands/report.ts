/** `perimeter report`: posture figures, rule use (unused rules) and staged candidates' disagreements. */
import { compile } from '../../control/compile/compile.js';
import { report } from '../../control/flows/report.js';
import { FlowStore } from '../../control/flows/store.js';
import { DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { loadPolicy } from '../support/load-policy.js';
import { cell, paint, table } from '../support/output.js';
import { sinceArg } from '../support/recorded.js';

const FLAGS = {
  policy: flag.required('--policy <dir>', 'policy directory'),
  state: flag.withDefault('--state <dir>', 'the control server state directory (its recorded rule hits and flows)', DEFAULT_STATE),
  since: flag.string('--since <when>', 'count only hits since: 30m, 2h, 7d, or a date'),
  json: flag.bool('--json', 'machine-readable output'),
};

export const reportCommand = defineCommand({
  path: ['report'],
  description:
    'posture (default deny, perimeters not enforced, rules open to any identity, who reaches the crown jewels), unused rules from recorded hits, staged candidates’ disagreements',
  flags: FLAGS,
  run: runReport,
});

const bar = (share: number, width = 20) => `${'█'.repeat(Math.round(share * width))}${'░'.repeat(width - Math.round(share * width))}`;
const iso = (t: number | undefined) => (t ? new Date(t).toISOString().replace(/\.\d+Z$/, 'Z') : '-');

async function runReport(o: OptionsOf<typeof FLAGS>): Promise<number> {
  const sinceMs = o.since ? sinceArg(o.since) : undefined;
  const loaded = loadPolicy([o.policy], 'no report was made');
  const hits = await FlowStore.readHits(o.state);
  const flows = (await FlowStore.read(o.state, { disagree: true })) ?? [];
  const r = report(loaded.policy, compile(loaded.policy), hits, flows, sinceMs);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return 0;
  }
  const out = (s = '') => process.stdout.write(`${cell(s)}\n`);
  const p = r.posture;
  const share = p.workloads ? p.defaultDeny.length / p.workloads : 0;
  out(paint(`Posture of ${o.policy}`, 'bold'));
  out(`  default deny          ${bar(share)} ${p.defaultDeny.length} of ${p.workloads} workloads (${Math.round(share * 100)}%)`);
  if (p.notDefaultDeny.length) out(`                        ${paint('not', 'yellow')}: ${p.notDefaultDeny.join(', ')}`);
  out(
    `  not yet enforced      ${p.notEnforced.length ? p.notEnforced.map((x) => `${x.perimeter} (${x.mode}: ${x.workloads.join(', ') || 'no workload'})`).join('; ') : paint('none', 'green')}`,
  );
  out(`  open to any identity  ${p.openRules.length ? paint(`${p.openRules.length} allow rules`, 'yellow') : paint('none', 'green')}`);
  for (const x of p.openRules) out(`                        ${x.rule} (${x.mode}) admits ${x.open}`);
  out();
  if (p.crownJewels.length) {
    out(paint('Crown jewels: who can reach them', 'bold'));
    out(
      table(
        ['WORKLOAD', 'PERIMETER', 'REACHABLE BY', 'ANY IDENTITY', 'UNAUTHENTICATED'],
        p.crownJewels.map((j) => [
          j.workload,
          j.perimeters.join(', '),
          `${j.reachableBy.length} of ${j.registered} identities${j.reachableBy.length ? `: ${j.reachableBy.join(', ')}` : ''}`,
          j.anyIdentity ? paint('yes', 'red') : 'no',
          j.unauthenticated ? paint('yes', 'red') : 'no',
        ]),
      ),
    );
    out();
  }
  if (!r.rules)
    out(paint(`Rule use: no rule hits recorded under ${o.state} (the control server records them from its sidecars)`, 'yellow'));
  else {
    out(paint(`Rule use${o.since ? ` since ${o.since}` : ''} (hits from the filters' decision records)`, 'bold'));
    out(
      table(
        ['RULE', 'ACTION', 'MODE', 'WORKLOADS', 'HITS', 'LAST HIT'],
        r.rules.map((u) => [
          u.hits ? u.rule : paint(u.rule, 'yellow'),
          u.action,
          u.mode,
          u.workloads.join(', '),
          String(u.hits),
          iso(u.lastMs),
        ]),
      ),
    );
    const unused = r.unused ?? [];
    out(
      unused.length
        ? paint(`${unused.length} unused: ${unused.map((u) => u.rule).join(', ')}`, 'yellow')
        : paint('every rule was used', 'green'),
    );
  }
  if (r.candidates.length) {
    out();
    out(paint('Staged candidates', 'bold'));
    out(
      table(
        ['PERIMETER', 'WORKLOADS', 'DISAGREEMENTS', 'FLOWS'],
        r.candidates.map((c) => [c.perimeter, c.workloads.join(', '), String(c.disagreements), String(c.flows)]),
      ),
    );
  }
  return 0;
}
