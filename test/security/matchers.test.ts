/**
 * Attack: a path or an identity crafted so that a matcher never finishes (a denial of service at
 * line rate). The matchers that stand for regular expressions (uri templates, service accounts,
 * namespace and trust-domain patterns) are linear and total in the filter: a namespace pattern
 * once looped forever on an identity without a "/" after its namespace. Each adversarial subject
 * gets its decision, through the host, as the reference evaluator decides it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PolicyRequest } from '../../contracts/request.js';
import { evaluate } from '../../control/eval/evaluate.js';
import { policyBytes, setup } from '../filter/fixture.js';
import { compiled, policyFor, TD } from '../helpers/policy.js';

const POLICY = `apiVersion: perimeter.dev/v1
kind: Perimeter
metadata: {name: api}
spec:
  owner: team
  mode: enforce
  selector: {workloads: [api]}
  rules:
    - name: patterns
      action: allow
      from:
        - {namespaces: ["a*", "*b", "x*y*z"]}
        - serviceAccounts: [ns/sa]
        - {trustDomains: ["td*"], identities: [{suffix: /never}]}
      to:
        - paths: ["/{**}/end", "/{*}/{*}/{*}/x", "/a/{**}"]
`;

test('adversarial identities and paths finish with the evaluator’s decision', { timeout: 20_000 }, () => {
  const { send } = setup({ policy: policyBytes(POLICY) });
  const policy = policyFor(compiled(POLICY), 'api');
  const long = (unit: string, bytes: number) => unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
  const identities = [
    `${TD}/ns/a`,
    `${TD}/ns/ab`,
    `${TD}/ns/${long('a', 1500)}`,
    `${TD}/${long('ns/', 1800)}`,
    `${TD}/${long('ns/ns/sa/', 1800)}sa/sa`,
    `${TD}/ns/x${long('y', 1500)}`,
    `spiffe://${long('td', 200)}`,
    `${TD}/ns/ab/sa/x`,
    `${TD}/ns/x${long('y', 1500)}z/sa/x`,
  ];
  const paths = [
    `/${long('a/', 8000)}end`,
    `/${long('a/', 8000)}en`,
    `/${long('x', 16000)}`,
    `/a/${long('b/', 7000)}`,
    `/${long('*', 100)}/x`,
  ];
  let allowed = 0;
  for (const principal of identities) {
    for (const path of paths) {
      const req: Partial<PolicyRequest> = { principal, path };
      const want = evaluate(policy, { method: 'GET', ...req } as PolicyRequest).decision;
      const got = send(req).outcome.action;
      assert.equal(got === 'Continue' ? 'allow' : 'deny', want, `${principal.slice(0, 60)}… ${path.slice(0, 40)}…`);
      if (want === 'allow') allowed++;
    }
  }
  assert.ok(allowed >= 9, `only ${allowed} allowed: the subjects do not reach the matchers' ends`);
});
