/**
 * Attack: a hostile or damaged configuration (what the control server streams, or anything in
 * its place): bit flips, truncations, overlong lengths and random bytes as the CompiledPolicy. The
 * filter never traps; it refuses what it cannot read (Envoy NACKs it), and the previous policy
 * keeps deciding exactly as before. Bounded: 600 mutations with a fixed seed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { RESOURCE_NAME } from '../../contracts/ecds.js';
import { BUILT_MODULE } from '../../contracts/module.js';
import { toEnvoy } from '../../envoy/filter-runner.js';
import { PluginConfigError, ProxyWasmHost } from '../../envoy/host/host.js';
import { rng } from '../differential/generate.js';

const GOLDEN = readFileSync('test/golden/shop/payments.pb');
const APP = 'spiffe://shop.example/ns/shop/sa/app';
const INTRUDER = 'spiffe://shop.example/ns/shop/sa/intruder';

test('600 mutated configurations: no trap, refused or read whole, and a refusal keeps the previous policy', () => {
  const host = ProxyWasmHost.load(BUILT_MODULE, { vmId: 'fuzz', log: () => {} });
  let plugin = host.configure({ name: RESOURCE_NAME, rootId: 'perimeter', configuration: GOLDEN });
  const decide = () =>
    ['app', 'intruder'].map((who) => {
      const { info, headers } = toEnvoy({
        principal: who === 'app' ? APP : INTRUDER,
        method: 'POST',
        path: '/payments/charge',
        claims: { amr: ['mfa'], device_posture: 'compliant' },
      });
      const s = plugin.newStream(info);
      const o = s.onRequestHeaders(headers, true);
      s.finish();
      return o.localReply?.status ?? 200;
    });
  const baseline = decide();
  assert.deepEqual(baseline, [200, 403]);
  const r = rng(20261202);
  let refused = 0;
  let accepted = 0;
  for (let i = 0; i < 600; i++) {
    const bytes = Buffer.from(GOLDEN);
    const kind = i % 4;
    let mutated: Uint8Array;
    if (kind === 0) {
      for (let k = 0; k < 1 + Math.floor(r() * 4); k++) {
        const at = Math.floor(r() * bytes.length);
        bytes[at] = (bytes[at] as number) ^ (1 << Math.floor(r() * 8));
      }
      mutated = bytes;
    } else if (kind === 1) mutated = bytes.subarray(0, Math.floor(r() * bytes.length));
    else if (kind === 2) {
      // An overlong length: a varint that claims far more bytes than there are.
      const at = Math.floor(r() * bytes.length);
      mutated = Buffer.concat([bytes.subarray(0, at), Buffer.from([0x42, 0xff, 0xff, 0xff, 0xff, 0x0f]), bytes.subarray(at)]);
    } else mutated = Uint8Array.from({ length: Math.floor(r() * 400) }, () => Math.floor(r() * 256));
    try {
      plugin = host.configure({ name: RESOURCE_NAME, rootId: 'perimeter', configuration: mutated });
      accepted++;
      decide(); // whatever it says, it says it without trapping
      plugin = host.configure({ name: RESOURCE_NAME, rootId: 'perimeter', configuration: GOLDEN });
    } catch (e) {
      assert.ok(e instanceof PluginConfigError, `mutation ${i}: ${(e as Error).message}`);
      refused++;
      assert.deepEqual(decide(), baseline, `mutation ${i}: the previous policy keeps deciding`);
    }
  }
  assert.ok(refused > 300, `${refused} refused, ${accepted} read whole`);
  assert.equal(Number(host.metrics.value('perimeter.config_rejected')), refused);
});
