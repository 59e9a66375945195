/** The decision record as the filter writes it, read by its one parser. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDecisionRecord, recordFields, ruleRef } from '../../contracts/decision-record.js';

const RECORD = 'decision=deny enforced=0 mode=simulate rule=db/default version=546497540c37d2c9';

test('the decision record is read into its fields as written', () => {
  assert.deepEqual(recordFields(RECORD), {
    decision: 'deny',
    enforced: '0',
    mode: 'simulate',
    rule: 'db/default',
    version: '546497540c37d2c9',
  });
});

test('the typed record keeps the label whole and reads the candidate', () => {
  assert.deepEqual(parseDecisionRecord(`${RECORD} staged=db/from-app candidate=allow:db/from-app`), {
    decision: 'deny',
    enforced: false,
    mode: 'simulate',
    rule: 'db/default',
    version: '546497540c37d2c9',
    staged: 'db/from-app',
    candidate: { decision: 'allow', rule: 'db/from-app' },
  });
});

test('a record that says nothing of its decision reads as a deny', () => {
  assert.equal(parseDecisionRecord('rule=x/y').decision, 'deny');
  assert.equal(parseDecisionRecord('').decision, 'deny');
  assert.equal(parseDecisionRecord('decision=allowed').decision, 'deny');
});

test('a label splits into perimeter and rule; one without a perimeter keeps its name', () => {
  assert.deepEqual(ruleRef('payments/no-refunds'), { perimeter: 'payments', rule: 'no-refunds' });
  assert.deepEqual(ruleRef('no_policy'), { perimeter: '', rule: 'no_policy' });
});
