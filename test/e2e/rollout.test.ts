/**
 * The rollout path end to end on the demo mesh (control server, CA, one real sidecar per
 * workload, real mTLS and ALS): traffic flows; `flows` and `map` show it; `recommend` writes a
 * policy that, replayed, allows the observed good traffic and denies the intruder; a staged
 * candidate records disagreements without blocking anything; `report` counts rule use;
 * `promote` and `rollback` move between versions; `quarantine` takes effect within a second.
 * Every command runs as a user runs it, as its own process.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, parseDocument } from 'yaml';
import { DemoMesh } from '../../cli/demo/mesh.js';
import { readFlows } from '../../cli/support/flows-file.js';
import { parseDecisionRecord, ruleRef } from '../../contracts/decision-record.js';
import type { Report } from '../../control/flows/report.js';
import type { Flow } from '../../control/flows/store.js';
import { perimeterCli } from '../helpers/cli.js';
import { eventually } from '../helpers/xds.js';

const TD = 'spiffe://shop.example/ns';
const APP = `${TD}/shop/sa/app`;
const WEB = `${TD}/shop/sa/web`;
const INTRUDER = `${TD}/shop/sa/intruder`;

const cli = perimeterCli;

test('observe → recommend → replay → stage → report → promote → rollback → quarantine, on the demo mesh', async () => {
  const mesh = await DemoMesh.start('examples/shop/policy');
  const state = mesh.state;
  const flows = readFlows('examples/shop/flows.yaml');
  const play = async () => {
    for (const f of flows) await mesh.play(f);
  };
  const flow = (name: string) => {
    const f = flows.find((x) => x.name === name);
    assert.ok(f, name);
    return f;
  };
  const db = mesh.members.get('db');
  assert.ok(db);
  const dbUpdated = async (before: string | undefined) => eventually(() => db.sidecar.policyVersion !== before, 10_000, 'db policy update');
  try {
    // 1. Traffic flows, and the control server records it.
    await play();
    await play();
    await eventually(() => mesh.control.status().flows.recorded >= 2 * (flows.length - 1), 10_000, 'flows recorded');

    const f = await cli('flows', '--state', state, '--to', 'payments', '--json');
    assert.equal(f.code, 0, f.err);
    const toPayments = (JSON.parse(f.out) as { flows: Flow[] }).flows;
    assert.ok(toPayments.some((x) => x.source === INTRUDER && x.denied === 2 && x.allowed === 0));

    const m = await cli('map', '--policy', mesh.policyDir, '--state', state);
    assert.equal(m.code, 0, m.err);
    assert.match(m.out, /<g class="edge denied" data-from="intruder" data-to="payments">/);
    assert.match(m.out, /<g class="edge would-deny" data-from="app" data-to="db">/);

    // 2. A recommendation for payments, replayed enforced: good traffic passes, the intruder does not.
    const rec = await cli('recommend', '--for', 'payments', '--policy', mesh.policyDir, '--state', state);
    assert.equal(rec.code, 0, rec.err);
    assert.match(rec.out, /# Not allowed: intruder: seen only denied/);
    const candidateDir = mkdtempSync(join(tmpdir(), 'perimeter-e2e-candidate-'));
    cpSync(mesh.policyDir, candidateDir, { recursive: true });
    writeFileSync(join(candidateDir, 'payments.yaml'), rec.out.replace('mode: simulate', 'mode: enforce'));
    const rp = await cli('replay', '--candidate', candidateDir, '--policy', mesh.policyDir, '--state', state, '--json');
    assert.equal(rp.code, 0, `nothing observed and allowed today is newly denied: ${rp.out}${rp.err}`);
    const replayed = (JSON.parse(rp.out) as { flows: { flow: Flow; candidate: string }[] }).flows.filter(
      (x) => x.flow.destination === 'payments',
    );
    const verdictOf = (source: string) => replayed.find((x) => x.flow.source === source)?.candidate;
    assert.equal(verdictOf(INTRUDER), 'deny');
    assert.equal(verdictOf(`${TD}/ops/sa/jump-host`), 'allow');
    assert.equal(verdictOf(APP), 'allow');

    // 3. Stage db's recommendation as a candidate beside its live rules: shadow only.
    const dbRec = await cli('recommend', '--for', 'db', '--policy', mesh.policyDir, '--state', state);
    assert.equal(dbRec.code, 0, dbRec.err);
    const file = join(mesh.policyDir, 'db.yaml');
    const doc = parseDocument(readFileSync(file, 'utf8'));
    doc.setIn(
      ['spec', 'candidate'],
      doc.createNode({ mode: 'enforce', rules: (parse(dbRec.out) as { spec: { rules: unknown } }).spec.rules }),
    );
    let before = db.sidecar.policyVersion;
    writeFileSync(file, doc.toString());
    await dbUpdated(before);
    const del = await mesh.play(flow('app deletes an order'));
    assert.equal(del.status, 200, 'a staged candidate blocks nothing');
    const rec1 = parseDecisionRecord(del.record?.decision ?? '');
    assert.equal(ruleRef(rec1.rule).rule, 'no-deletes', 'the live rules decided');
    assert.deepEqual(rec1.candidate, { decision: 'allow', rule: 'db/from-app' }, 'the candidate would allow what the live rules deny');
    await eventually(
      async () => {
        const d = await cli('flows', '--state', state, '--disagree', '--json');
        return (JSON.parse(d.out) as { flows: Flow[] }).flows.some((x) => x.source === APP && x.method === 'DELETE' && x.disagree >= 1);
      },
      10_000,
      'disagreement recorded',
    );

    // 4. The report: posture, rule use and the candidate's disagreements.
    const r = await cli('report', '--policy', mesh.policyDir, '--state', state, '--json');
    assert.equal(r.code, 0, r.err);
    const rep = JSON.parse(r.out) as Report;
    assert.deepEqual(
      rep.posture.notEnforced.map((x) => x.perimeter),
      ['db'],
    );
    assert.equal(rep.posture.crownJewels[0]?.workload, 'payments');
    const hits = (rule: string) => rep.rules?.find((x) => x.rule === rule)?.hits;
    assert.ok((hits('db/no-deletes') ?? 0) >= 2);
    assert.ok((hits('db/app-reads') ?? 0) >= 2);
    // The shop's flows are written to exercise every rule (unused rules: test/flows/report.test.ts).
    assert.deepEqual(rep.unused, []);
    assert.equal(rep.rules?.length, 9);
    assert.ok((rep.candidates.find((c) => c.perimeter === 'db')?.disagreements ?? 0) >= 1);
    const text = await cli('report', '--policy', mesh.policyDir, '--state', state);
    assert.match(text.out, /default deny +█+░* \d+ of 8 workloads/);

    // 5. Promote: the candidate goes live (enforced); rollback brings the old rules back.
    before = db.sidecar.policyVersion;
    const pr = await cli('promote', 'db', '--policy', mesh.policyDir, '--state', state);
    assert.equal(pr.code, 0, pr.err);
    assert.match(pr.out, /promoted: Perimeter\/db/);
    assert.match(pr.out, /mode +simulate → enforce/);
    assert.match(pr.out, /the filter recorded \d+ requests? in \d+ flows? the candidate decided otherwise/);
    await dbUpdated(before);
    const afterPromote = parseDecisionRecord((await mesh.play(flow('app deletes an order'))).record?.decision ?? '');
    assert.deepEqual(
      [afterPromote.decision, afterPromote.enforced, ruleRef(afterPromote.rule).rule, afterPromote.candidate],
      ['allow', true, 'from-app', undefined],
      'the candidate’s rules are live and enforced',
    );
    const intruder = await mesh.play({ ...flow('app reads orders'), from: 'intruder' });
    assert.equal(intruder.status, 403, 'db is enforced now');

    before = db.sidecar.policyVersion;
    const rb = await cli('rollback', 'db', '--policy', mesh.policyDir, '--state', state);
    assert.equal(rb.code, 0, rb.err);
    await dbUpdated(before);
    const afterRollback = await mesh.play(flow('app deletes an order'));
    assert.equal(afterRollback.status, 200, 'back in simulate');
    const rolled = parseDecisionRecord(afterRollback.record?.decision ?? '');
    assert.deepEqual(
      [ruleRef(rolled.rule).rule, rolled.candidate?.rule],
      ['no-deletes', 'db/from-app'],
      'the old rules live, the promoted ones staged',
    );
    assert.match(readFileSync(file, 'utf8'), /candidate:\n {4}mode: enforce/, 'the promoted rules are staged again');

    // 6. Quarantine: web is contained on every sidecar within a second.
    const q = await cli('quarantine', WEB, '--state', state, '--json');
    assert.equal(q.code, 0, q.err);
    assert.ok((JSON.parse(q.out) as { seconds: number }).seconds < 1);
    const blocked = await mesh.play(flow('web calls the api'));
    assert.equal(blocked.status, 403);
    assert.equal(ruleRef(parseDecisionRecord(blocked.record?.decision ?? '').rule).perimeter, 'quarantine');
  } finally {
    await mesh.stop();
  }
});
