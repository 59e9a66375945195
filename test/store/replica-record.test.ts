/** A replica's record in the store: sidecars grouped by what they hold, read back whole or not at all. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReplicaReport, SidecarStatus } from '../../control/serve/status.js';
import { countSidecars, groupSidecars, parseReplicaRecord } from '../../control/store/replica-record.js';

const WEB = 'spiffe://shop.example/ns/shop/sa/web';
const DB = 'spiffe://shop.example/ns/data/sa/db';

function sidecar(i: number, identity: string, acked: string, over: Partial<SidecarStatus> = {}): SidecarStatus {
  return {
    stream: i,
    identity,
    workload: identity.split('/').pop(),
    transport: 'sotw',
    service: 'ads',
    peer: `127.0.0.1:${40000 + i}`,
    connectedAt: '2026-12-03T00:00:00Z',
    ackedPolicy: acked,
    currentPolicy: 'p2',
    inSync: acked === 'p2',
    pushes: i,
    lastNack: undefined,
    unservedRequests: 0,
    ...over,
  };
}

test('sidecars that hold the same thing are one group with a count; one that differs in anything is its own', () => {
  const list = [
    ...Array.from({ length: 300 }, (_, i) => sidecar(i, WEB, 'p2')),
    sidecar(300, WEB, 'p1'),
    sidecar(301, WEB, 'p1', { lastNack: { at: 'now', message: 'bad module', policy: 'p2' } }),
    sidecar(302, WEB, 'p2', { transport: 'delta' }),
    ...Array.from({ length: 20 }, (_, i) => sidecar(400 + i, DB, 'p2')),
  ];
  const groups = groupSidecars(list);
  assert.deepEqual(
    groups.map((g) => [g.identity === WEB ? 'web' : 'db', g.stream, g.ackedPolicy, g.lastNack ?? '-', g.count]),
    [
      ['web', 'ads/sotw', 'p2', '-', 300],
      ['web', 'ads/sotw', 'p1', '-', 1],
      ['web', 'ads/sotw', 'p1', 'bad module', 1],
      ['web', 'ads/delta', 'p2', '-', 1],
      ['db', 'ads/sotw', 'p2', '-', 20],
    ],
  );
  assert.deepEqual(countSidecars(groups), { all: 323, inSync: 321 });
});

test('a record made of the groups reads back as written', () => {
  const r: ReplicaReport = {
    id: 'r1',
    pid: 42,
    xds: '127.0.0.1:1',
    admin: undefined,
    leader: true,
    serving: { seq: 3, version: 'abc' },
    storeProblem: undefined,
    sidecars: groupSidecars([sidecar(1, WEB, 'p2')]),
  };
  assert.deepEqual(parseReplicaRecord(JSON.stringify(r)), JSON.parse(JSON.stringify(r)));
  assert.equal(parseReplicaRecord(JSON.stringify({ ...r, sidecars: [{ ...r.sidecars[0], count: 0 }] })), undefined);
  assert.equal(parseReplicaRecord(JSON.stringify({ ...r, pid: 'me' })), undefined);
  assert.equal(parseReplicaRecord('null'), undefined);
});
