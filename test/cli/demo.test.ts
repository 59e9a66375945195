/** `perimeter demo --once` (npm start without the endless loop): the shop as a live mesh, and a policy change reaching it. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

test('the demo plays the shop flows through real sidecars, then enforces db and shows the decisions that changed', () => {
  const r = spawnSync(process.execPath, ['bin/perimeter.js', 'demo', '--once'], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const [round1, round2] = r.stdout.split('Round 2');
  assert.ok(round1 && round2, r.stdout);
  assert.match(round1, /intruder on payments +intruder → payments +POST \/payments\/charge +403 +DENY +payments\/default/);
  assert.match(round1, /charge with MFA +app → payments +POST \/payments\/charge +200 +ALLOW +payments\/charge-with-mfa/);
  assert.match(round1, /app deletes an order +app → db +DELETE \/orders\/42 +200 +WOULD DENY +db\/no-deletes/);
  assert.match(round1, /no client certificate .* refused +DENY +refused at the TLS handshake/);
  assert.doesNotMatch(round1, /expected/, 'every first-round decision is the one flows.yaml expects');
  assert.match(r.stderr, /the new policy reached the db sidecar in \d+ ms/);
  assert.match(round2, /app deletes an order +app → db +DELETE \/orders\/42 +403 +DENY {2}\(was WOULD DENY\) +db\/no-deletes/);
  assert.match(round2, /web skips the app .* 403 +DENY {2}\(was WOULD DENY\) +db\/default/);
});
