/**
 * `perimeter demo` (what `npm start` runs): the shop as a live mesh on loopback. The flows are
 * played through real sidecars, shown as a table with each decision and the rule that made it;
 * then the db perimeter moves from simulate to enforce, the change reaches the sidecars, and the
 * flows are played again. Keeps playing until Ctrl-C; `--once` stops after that.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Outcome, outcomeOf, parseDecisionRecord } from '../../contracts/decision-record.js';
import type { Flow } from '../../control/eval/flow-file.js';
import { DemoMesh, type FlowResult } from '../demo/mesh.js';
import { defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { readFlows } from '../support/flows-file.js';
import { paint, table } from '../support/output.js';
import { UsageError } from '../support/targets.js';

function verdict(r: FlowResult): { verdict: Outcome; rule: string } {
  if (r.status === 'refused') return { verdict: 'deny', rule: 'refused at the TLS handshake (no client certificate)' };
  if (!r.record?.decision) return { verdict: r.status === 200 ? 'allow' : 'deny', rule: r.record?.details ?? '' };
  const d = parseDecisionRecord(r.record.decision);
  return { verdict: outcomeOf(d), rule: d.rule };
}

const shown: Record<Outcome, string> = { allow: 'ALLOW', deny: 'DENY', 'would-deny': 'WOULD DENY' };
const colour: Record<Outcome, 'green' | 'red' | 'yellow'> = { allow: 'green', deny: 'red', 'would-deny': 'yellow' };

interface Row {
  flow: Flow;
  status: string;
  verdict: Outcome;
  rule: string;
}

async function round(mesh: DemoMesh, flows: Flow[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const f of flows) {
    const r = await mesh.play(f);
    rows.push({ flow: f, status: String(r.status), ...verdict(r) });
  }
  return rows;
}

function print(title: string, rows: Row[], before?: Row[]): void {
  process.stdout.write(`\n${paint(title, 'bold')}\n`);
  const body = rows.map((r, i) => {
    const changed = before && before[i]?.verdict !== r.verdict;
    const mismatch = !before && r.flow.expect && r.flow.expect !== r.verdict;
    return [
      r.flow.name,
      `${r.flow.from} → ${r.flow.to}`,
      `${r.flow.method} ${r.flow.path}`,
      r.status,
      paint(shown[r.verdict], colour[r.verdict]) +
        (changed ? paint(`  (was ${shown[before[i]?.verdict as Outcome]})`, 'bold') : '') +
        (mismatch ? paint(`  expected ${r.flow.expect}`, 'red') : ''),
      r.rule,
    ];
  });
  process.stdout.write(`${table(['FLOW', 'FROM → TO', 'REQUEST', 'STATUS', 'DECISION', 'RULE'], body)}\n`);
}

const FLAGS = {
  policy: flag.withDefault('--policy <dir>', 'policy directory', 'examples/shop/policy'),
  flows: flag.withDefault('--flows <file>', 'flows to play', 'examples/shop/flows.yaml'),
  interval: flag.withDefault('--interval <ms>', 'time between rounds after the policy change', '5000'),
  once: flag.bool('--once', 'stop after the policy change round (exit 4 if a first-round decision is not as expected)'),
};

export const demoCommand = defineCommand({
  path: ['demo'],
  description: 'the example shop as a live mesh on loopback: control server, CA, one sidecar per workload, traffic',
  flags: FLAGS,
  run: runDemo,
});

async function runDemo(o: OptionsOf<typeof FLAGS>): Promise<number> {
  const every = Number(o.interval);
  if (!Number.isFinite(every) || every < 100) throw new UsageError(`--interval ${o.interval}: milliseconds, at least 100`);
  const flows = readFlows(o.flows);
  const say = (m: string) => process.stderr.write(`${paint('▸', 'blue')} ${m}\n`);
  const mesh = await DemoMesh.start(o.policy, say);
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    say(
      `control server on 127.0.0.1:${mesh.control.xdsPort}; ${mesh.members.size} workloads, each an app behind a sidecar; ${flows.length} flows`,
    );
    say(`web page (live map, flows, perimeters): http://127.0.0.1:${mesh.control.adminPort}/ui`);
    const first = await round(mesh, flows);
    print(`Round 1: the shop's flows through the sidecars (policy ${mesh.control.source.current?.version})`, first);
    const mismatches = first.filter((r) => r.flow.expect && r.flow.expect !== r.verdict).length;

    // The rollout step of the seeds: the db perimeter has been simulated; now it is enforced.
    const file = join(mesh.policyDir, 'db.yaml');
    const text = readFileSync(file, 'utf8');
    const db = mesh.members.get('db');
    if (db && text.includes('mode: simulate')) {
      const before = db.sidecar.policyVersion;
      const t0 = performance.now();
      writeFileSync(file, text.replace('mode: simulate', 'mode: enforce'));
      say('policy change: the db perimeter moves from simulate to enforce (db.yaml edited)');
      while (db.sidecar.policyVersion === before) {
        if (performance.now() - t0 > 10_000) throw new Error('the change did not reach the db sidecar within 10 s');
        await new Promise((r) => setTimeout(r, 10));
      }
      say(`the new policy reached the db sidecar in ${(performance.now() - t0).toFixed(0)} ms (debounce, compile, ECDS push, ACK)`);
      print('Round 2: the same flows, db now enforced', await round(mesh, flows), first);
    }
    if (o.once) return mismatches ? 4 : 0;
    say(`playing the flows every ${every} ms; Ctrl-C to stop (edit ${mesh.policyDir} to see changes arrive)`);
    say(`the control server records them as flows: npx perimeter flows --state ${mesh.state}`);
    say(
      `see them live at http://127.0.0.1:${mesh.control.adminPort}/ui, or contain one: npx perimeter quarantine <spiffe-id> --state ${mesh.state}`,
    );
    let last = await round(mesh, flows);
    for (let n = 3; !stop; n++) {
      await new Promise((r) => setTimeout(r, every));
      if (stop) break;
      const rows = await round(mesh, flows);
      if (rows.some((r, i) => r.verdict !== last[i]?.verdict)) print(`Round ${n}: decisions changed`, rows, last);
      else
        process.stdout.write(
          `round ${n}: ${rows.filter((r) => r.verdict === 'allow').length} allowed, ${rows.filter((r) => r.verdict !== 'allow').length} denied or would be; no change\n`,
        );
      last = rows;
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await mesh.stop();
  }
}
