/** The hand encoder against protobuf-es: the same messages, field by field. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { type Any, AnySchema } from '@bufbuild/protobuf/wkt';
import { encodeDelta, encodeSotw } from '../../control/xds/wire.js';
import { DeltaDiscoveryResponseSchema, DiscoveryResponseSchema } from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';

const any = (typeUrl: string, n: number): Any => create(AnySchema, { typeUrl, value: new Uint8Array(n).map((_, i) => (i * 31) & 0xff) });
const enc = (a: Any) => toBinary(AnySchema, a);

test('SotW responses decode to exactly what protobuf-es would have encoded, for small and large resources', () => {
  for (const sizes of [[], [0], [3, 200], [70_000, 5]]) {
    const resources = sizes.map((n, i) => any(`type.googleapis.com/t${i}`, n));
    const fields = { versionInfo: 'v1é', typeUrl: 'type.googleapis.com/t', nonce: 'a1' };
    const got = fromBinary(DiscoveryResponseSchema, encodeSotw({ ...fields, resources: resources.map(enc), controlPlane: 'perimeter@1' }));
    const want = create(DiscoveryResponseSchema, { ...fields, resources, controlPlane: { identifier: 'perimeter@1' } });
    assert.ok(equals(DiscoveryResponseSchema, got, want), JSON.stringify(sizes));
  }
  const empty = fromBinary(
    DiscoveryResponseSchema,
    encodeSotw({ versionInfo: '', resources: [], typeUrl: '', nonce: '', controlPlane: '' }),
  );
  assert.ok(equals(DiscoveryResponseSchema, empty, create(DiscoveryResponseSchema, { controlPlane: {} })));
});

test('Delta responses decode to the same message, resources and removals included', () => {
  const a = any('type.googleapis.com/x', 300);
  const got = fromBinary(
    DeltaDiscoveryResponseSchema,
    encodeDelta({
      systemVersionInfo: 'sv',
      resources: [
        { name: 'perimeter.authz', version: 'abc', any: enc(a) },
        { name: 'n2', version: '', any: enc(any('type.googleapis.com/x', 0)) },
      ],
      removed: ['gone', 'ghost'],
      typeUrl: 'type.googleapis.com/x',
      nonce: '7',
      controlPlane: 'cp',
    }),
  );
  const want = create(DeltaDiscoveryResponseSchema, {
    systemVersionInfo: 'sv',
    resources: [
      { name: 'perimeter.authz', version: 'abc', resource: a },
      { name: 'n2', resource: any('type.googleapis.com/x', 0) },
    ],
    removedResources: ['gone', 'ghost'],
    typeUrl: 'type.googleapis.com/x',
    nonce: '7',
    controlPlane: { identifier: 'cp' },
  });
  assert.ok(equals(DeltaDiscoveryResponseSchema, got, want));
});
