/**
 * Host conformance with a second module of our own (test/fixtures/probe), covering what the
 * filter does not use: Envoy's callback order, properties and their encodings, header maps
 * and their availability, local replies, status conversion, bodies, shared data, queues,
 * metrics, ticks, callouts, and the failure policies.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type FailurePolicy, type Header, HeaderMap, PluginConfigError, ProxyWasmHost } from '../../envoy/host/host.js';

const PROBE = new URL('../fixtures/probe/build/probe.wasm', import.meta.url).pathname;

function setup(opts: { config?: string; failurePolicy?: FailurePolicy; canary?: boolean; allowStop?: boolean; vmConfig?: string } = {}) {
  const logs: string[] = [];
  const clock = { ms: 1_000_000 };
  const host = ProxyWasmHost.load(PROBE, {
    vmId: 'probe-vm',
    vmConfiguration: Buffer.from(opts.vmConfig ?? 'vm-config'),
    now: () => clock.ms,
    nodeId: 'spiffe://td/ns/a/sa/probe',
    log: (level, m) => logs.push(level === 'info' ? m : `${level}: ${m}`),
    resolveDns: async (name) => {
      if (name !== 'probe.dns.example') throw new Error(`${name} does not resolve`);
      return [
        { address: '10.1.2.3:0', ttlSeconds: 30 },
        { address: '[fd00::1]:0', ttlSeconds: 30 },
      ];
    },
  });
  const plugin = host.configure({
    name: 'probe',
    rootId: 'probe-root',
    configuration: Buffer.from(opts.config ?? 'plain'),
    ...(opts.failurePolicy ? { failurePolicy: opts.failurePolicy } : {}),
    ...(opts.canary !== undefined ? { canary: opts.canary } : {}),
    ...(opts.allowStop ? { allowOnHeadersStopIteration: true } : {}),
  });
  const info = {
    connection: { uriSanPeerCertificate: 'spiffe://td/ns/a/sa/b', tlsVersion: 'TLSv1.3', mtls: true, requestedServerName: '' },
    source: { address: '10.0.0.1', port: 53412 },
    destination: { address: '10.0.0.2', port: 8443 },
  };
  const request = (probe: string | undefined, extra: Header[] = []) => {
    const s = plugin.newStream(info);
    const headers: Header[] = [
      [':method', 'GET'],
      [':path', '/a/b?x=1'],
      [':authority', 'svc.example'],
      ...(probe ? ([['x-probe', probe]] as Header[]) : []),
      ...extra,
    ];
    return { stream: s, outcome: s.onRequestHeaders(headers, true) };
  };
  const line = (prefix: string) => logs.find((l) => l.startsWith(prefix));
  return { host, plugin, logs, clock, request, line };
}

test('callback order: root create, vm_start, configure; stream create → headers → log → done → delete', () => {
  const { logs, request } = setup();
  const { stream } = request(undefined);
  stream.onResponseHeaders([[':status', '200']], true);
  stream.finish();
  assert.deepEqual(
    logs.map((l) => l.split(' ')[0]),
    [
      'create',
      'root_config',
      'vm_start',
      'vm_start_config',
      'configure',
      'create',
      'request_headers',
      'response_headers',
      'log',
      'done',
      'delete',
    ],
  );
  assert.equal(logs[0], 'create 1 0');
  assert.match(logs[2] ?? '', /^vm_start 1 0 vm-config started=1$/);
  assert.equal(logs[4], 'configure 1 plain');
  assert.equal(logs[5], 'create 2 1');
  assert.equal(logs[6], 'request_headers 2 3 1');
});

test('properties: strings raw, integers 8-byte LE, booleans 1 byte, whole objects and unknown paths refused', () => {
  const { request, line } = setup();
  request('props');
  const prop = (p: string) => line(`prop ${p}=`)?.slice(`prop ${p}=`.length);
  assert.equal(prop('request.path'), '/a/b?x=1');
  assert.equal(prop('request.url_path'), '/a/b');
  assert.equal(prop('request.query'), 'x=1');
  assert.equal(prop('request.host'), 'svc.example');
  assert.equal(prop('request.method'), 'GET');
  assert.equal(prop('source.address'), '10.0.0.1:53412');
  assert.equal(prop('destination.port'), 'fb20000000000000');
  assert.equal(prop('connection.mtls'), '01');
  assert.equal(prop('connection.uri_san_peer_certificate'), 'spiffe://td/ns/a/sa/b');
  assert.equal(prop('connection.subject_peer_certificate'), '');
  assert.equal(prop('connection.requested_server_name'), '');
  assert.equal(prop('plugin_name'), 'probe');
  assert.equal(prop('plugin_root_id'), 'probe-root');
  assert.equal(prop('plugin_vm_id'), 'probe-vm');
  assert.equal(prop('request.headers.x-probe'), 'props');
  assert.equal(prop('connection'), 'status 3');
  assert.equal(prop('nonsense'), 'status 1');
  assert.equal(prop('metadata.filter_metadata.ns.key'), 'status 1');
  // xds.node whole: the Node message as Envoy serialises it (field 1, the id); xds alone is a map Envoy cannot serialise (3).
  const id = Buffer.from('spiffe://td/ns/a/sa/probe');
  assert.equal(prop('xds.node'), Buffer.concat([Buffer.from([0x0a, id.length]), id]).toString('hex'));
  assert.equal(prop('xds'), 'status 3');
});

test('a local reply is deferred, overrides the return value and passes through the response callbacks, the request headers still readable', () => {
  const { request, logs } = setup();
  const { outcome, stream } = request('reply');
  assert.equal(outcome.action, 'LocalReply');
  assert.equal(outcome.localReply?.status, 418);
  assert.equal(outcome.localReply?.details, 'probe_said_no');
  assert.equal(Buffer.from(outcome.localReply?.body ?? []).toString(), 'nope');
  assert.equal(outcome.localReply?.grpcStatus, 3);
  assert.deepEqual(outcome.localReply?.headers, [['x-probe-reply', 'yes']]);
  assert.ok(
    // The request headers stay readable: Envoy sends the reply before decodeHeaders returns.
    logs.some((l) => /^response_headers \d+ \d+ status 418 request_path 0 request\.path \/a\/b\?x=1$/.test(l)),
    logs.join('\n'),
  );
  assert.ok(logs.some((l) => l === 'response_body 4 1'));
  assert.deepEqual(
    stream.replyHeaders?.find(([k]) => k === 'x-probe-saw'),
    ['x-probe-saw', '418'],
  );
  assert.deepEqual(
    stream.replyHeaders?.find(([k]) => k === 'content-type'),
    ['content-type', 'text/plain'],
  );
});

test('a local reply from on_response_headers replaces the upstream response', () => {
  const { request } = setup();
  const { stream } = request(undefined);
  const o = stream.onResponseHeaders(
    [
      [':status', '200'],
      ['x-reply-from-response', '1'],
    ],
    true,
  );
  assert.equal(o.action, 'LocalReply');
  assert.equal(o.localReply?.status, 502);
  assert.equal(o.localReply?.details, 'replaced_in_response');
});

test('response trailers reach proxy_on_response_trailers after the body, readable and changeable there (gRPC status)', () => {
  const { request, line } = setup();
  const { stream } = request(undefined);
  stream.onResponseHeaders(
    [
      [':status', '200'],
      ['content-type', 'application/grpc'],
    ],
    false,
  );
  stream.onResponseBody(new Uint8Array([0, 0, 0, 0, 0]), false);
  const given: Header[] = [['grpc-status', '0']];
  assert.equal(stream.onResponseTrailers(given).action, 'Continue');
  // The response headers are still readable in the trailers callback.
  assert.match(line('response_trailers ') ?? '', /^response_trailers \d+ 1 grpc-status 0 response :status 0$/);
  assert.deepEqual(stream.responseTrailers, [
    ['grpc-status', '0'],
    ['x-probe-trailer', 'seen'],
  ]);
  assert.deepEqual(given, [['grpc-status', '0']]);
});

test('header status conversion: 1 → StopAllIterationAndWatermark (unless allowed), 2 → Continue, >4 → 4', () => {
  assert.equal(setup().request('stop').outcome.action, 'StopAllIterationAndWatermark');
  assert.equal(setup({ allowStop: true }).request('stop').outcome.action, 'StopIteration');
  assert.equal(setup().request('ret2').outcome.action, 'Continue');
  assert.equal(setup().request('ret9').outcome.action, 'StopAllIterationAndWatermark');
});

test('request headers: readable while paused, gone after Continue, back read-only in on_log', () => {
  const { request, logs } = setup();
  const { stream } = request(undefined);
  stream.onResponseHeaders([[':status', '204']], true);
  stream.finish();
  assert.ok(
    logs.some((l) => /^response_headers \d+ 1 status 204 request_path 2 request\.path status 1$/.test(l)),
    logs.join('\n'),
  );
  assert.ok(
    logs.some((l) => /^log \d+ path \/a\/b\?x=1 add 2$/.test(l)),
    logs.join('\n'),
  );
});

test('header maps: add, replace, remove (keys lower-cased), size in bytes, empty value is Ok 0/0', () => {
  const { request, line } = setup();
  const { stream } = request('headers', [
    ['x-remove', 'gone'],
    ['x-empty', ''],
  ]);
  const h = line('headers ');
  assert.match(h ?? '', /^headers 0 0 0 size \d+ pairs 6 empty 0 0\/0 missing 1 badmap 2$/);
  const size = Number(/size (\d+)/.exec(h ?? '')?.[1]);
  assert.equal(
    size,
    stream.requestHeaders.reduce((n, [k, v]) => n + k.length + v.length, 0),
  );
  assert.deepEqual(
    stream.requestHeaders.find(([k]) => k === 'x-added'),
    ['x-added', '1'],
  );
  assert.deepEqual(
    stream.requestHeaders.find(([k]) => k === 'x-probe'),
    ['x-probe', 'replaced'],
  );
  assert.equal(
    stream.requestHeaders.find(([k]) => k === 'x-remove'),
    undefined,
  );
});

test('request bodies: buffered until the end, readable and replaceable', () => {
  const { request, logs } = setup();
  const { stream } = request('body');
  assert.equal(stream.onRequestBody(Buffer.from('hello '), false).action, 'StopIterationAndBuffer');
  assert.equal(stream.onRequestBody(Buffer.from('world'), true).action, 'Continue');
  assert.equal(stream.requestBody.toString(), 'HELLO WORLD');
  assert.ok(logs.includes('request_body 11 1 status_len 11'), logs.join('\n'));
  assert.ok(logs.includes('set_body 0'));
});

test('the plugin configuration is readable while the root is created and configured, not in on_vm_start', () => {
  const { line } = setup({ config: 'cfg-text' });
  assert.equal(line('root_config '), 'root_config 0 cfg-text');
  assert.equal(line('vm_start_config '), 'vm_start_config 1', 'NotFound: on_vm_start is plugin-independent');
  assert.match(line('configure ') ?? '', /^configure \d+ cfg-text$/);
});

test('buffers as Envoy has them: a body buffer is empty, never NotFound, before any body; an over-long max_size is clamped', () => {
  const { request, line } = setup();
  request('buffers');
  // Request body: Ok with 0/0 (nothing allocated); response body status: Ok, length 0;
  // VM configuration "vm-config" from byte 3 with max_size 2^32-1: Ok, "config".
  assert.equal(line('buffers '), 'buffers body 0 0/0 response 0 0 clamp 0 config');
});

test("envoy_resolve_dns: a token now (from 1), the answer later in envoy_on_resolve_dns with Envoy's call-data layout", async () => {
  const { request, line } = setup();
  request('dns');
  // Ok, token 1; a name out of bounds: InvalidMemoryAccess, no lookup.
  assert.equal(line('dns '), 'dns 0 token 1 oob 6');
  await new Promise((r) => setImmediate(r));
  // To the stream's root (1): 4 + 2 × 4 + "10.1.2.3:0\0" + "[fd00::1]:0\0" = 35 bytes.
  assert.equal(line('dns_answer '), 'dns_answer 1 1 35 2 ttl 30 10.1.2.3:0,[fd00::1]:0');
});

test('shared data with compare-and-swap', () => {
  const { request, line } = setup();
  request('shared');
  // set Ok; get Ok "v1"; wrong cas → CasMismatch (8); right cas → Ok; value now v2
  assert.equal(line('shared '), 'shared 0 0 v1 8 0 v2');
});

test('shared queues: enqueue from a stream, delivered to the registering root, then Empty', () => {
  const { request, line } = setup();
  request('queue');
  assert.equal(line('queue '), 'queue 0 same 0');
  assert.equal(line('queue_ready '), 'queue_ready 1 0 hello then 7');
});

test("metrics: Envoy's id scheme, counters refuse non-positive deltas, histograms cannot be read", () => {
  const { request, line, host } = setup();
  request('metrics');
  // Per type from its own base (counter 4, gauge 5, histogram 6); the gauge defined again: 9, the same stat.
  assert.equal(line('metrics '), 'metrics ids 4 5 6 again 9 badType 2 zero 2 gauge 5 hget 2');
  assert.equal(host.metrics.value('probe.requests'), 1n);
  assert.match(host.metrics.prometheus(), /envoy_probe_requests 1/);
});

test('callouts, foreign functions, log levels, contexts, stream types and memory checks', () => {
  const { request, line } = setup();
  request('http');
  assert.equal(line('http '), 'http 2');
  request('misc');
  assert.equal(line('misc '), 'misc config 1 foreign 1 level 2 badLevel 2 effective 2 continue 2 upstream 12 oob 6 time 0 nonzero');
});

test('ticks reach the root context that asked for them', () => {
  const { host, clock, logs } = setup({ config: 'tick' });
  assert.ok(logs.includes('tick_set 0'));
  host.tick();
  assert.ok(!logs.some((l) => l.startsWith('tick 1')));
  clock.ms += 100;
  host.tick();
  assert.ok(logs.includes('tick 1'));
});

test('on_configure returning false, or trapping, refuses the plugin; the canary keeps the live VM clean', () => {
  assert.throws(() => setup({ config: 'fail' }), PluginConfigError);
  assert.throws(() => setup({ config: 'trap' }), PluginConfigError);
  const { host } = setup();
  const before = [...host.vm.contexts.keys()];
  assert.throws(() => host.configure({ name: 'probe', rootId: 'probe-root', configuration: Buffer.from('fail') }), PluginConfigError);
  assert.deepEqual([...host.vm.contexts.keys()], before);
  assert.equal(host.vm.failed, false);
});

test('FAIL_CLOSED: a trap answers 503 wasm_fail_stream for that stream and every later one', () => {
  const { request, host } = setup({ failurePolicy: 'FAIL_CLOSED' });
  const first = request('trap').outcome;
  assert.equal(first.localReply?.status, 503);
  assert.equal(first.localReply?.details, 'wasm_fail_stream');
  assert.equal(first.localReply?.grpcStatus, 14);
  assert.equal(host.vm.failed, true);
  assert.equal(request(undefined).outcome.localReply?.status, 503);
});

test('FAIL_OPEN: after a trap, later streams skip the filter', () => {
  const { request } = setup({ failurePolicy: 'FAIL_OPEN' });
  assert.equal(request('trap').outcome.localReply?.status, 503);
  const next = request(undefined).outcome;
  assert.equal(next.action, 'Continue');
  assert.equal(next.skipped, true);
});

test('FAIL_RELOAD: after a trap, a new VM on a later stream, with backoff', () => {
  const { request, host, clock } = setup({ failurePolicy: 'FAIL_RELOAD' });
  assert.equal(request('trap').outcome.localReply?.status, 503);
  clock.ms += 10;
  // The first reload happens at once; a second trap within the backoff keeps failing closed.
  assert.equal(request(undefined).outcome.action, 'Continue');
  assert.equal(host.starts, 2);
  assert.equal(request('trap').outcome.localReply?.status, 503);
  assert.equal(request(undefined).outcome.localReply?.status, 503);
  clock.ms += 1000;
  assert.equal(request(undefined).outcome.action, 'Continue');
  assert.equal(host.starts, 3);
});

test('filter state: a path rewritten in place is read again; values replace; 64 keys and 1 MiB a value at most', () => {
  const { request, line } = setup();
  request('state');
  assert.equal(line('state '), 'state reuse probe-vm /a/b?x=1 value v1 v2 kept 64 refused 2 big 2 still v2');
});

test('a released stream is reused clean: no filter state, headers, reply or phase of the stream before it', () => {
  const { plugin, request, line, logs } = setup();
  const first = request('state').stream;
  first.release();
  assert.throws(() => first.onRequestHeaders([[':path', '/']]), /after release/);
  first.release(); // twice is harmless
  const second = plugin.newStream({});
  assert.equal(second, first, 'the plugin reuses the released stream');
  assert.equal(second.filterState.size, 0);
  assert.deepEqual(second.requestHeaders, []);
  assert.equal(second.localReply, undefined);
  second.onRequestHeaders([
    [':path', '/'],
    ['x-probe', 'readstate'],
  ]);
  assert.equal(line('readstate '), 'readstate status 1');
  second.finish();
  // A stream finished but not released is never handed out again.
  const third = plugin.newStream({});
  assert.notEqual(third, second);
  assert.ok(logs.filter((l) => l.startsWith('delete ')).length >= 2);
});

test("the caller's header arrays are never changed: the module changes a copy, and sees keys lower-cased", () => {
  const { plugin } = setup();
  const given: Header[] = [
    [':method', 'GET'],
    [':path', '/a'],
    ['x-probe', 'headers'],
    ['x-remove', 'gone'],
    ['X-Upper', 'kept'],
  ];
  const before = JSON.stringify(given);
  const stream = plugin.newStream({});
  stream.onRequestHeaders(given, true);
  assert.equal(JSON.stringify(given), before);
  assert.deepEqual(
    stream.requestHeaders.find(([k]) => k === 'x-upper'),
    ['x-upper', 'kept'],
  );
  assert.ok(stream.requestHeaders.some(([k]) => k === 'x-added'));
  assert.ok(!stream.requestHeaders.some(([k]) => k === 'x-remove'));
  // Lower-case already, and left alone by the module: the map is the array given, not a copy.
  const lower: Header[] = [
    [':method', 'GET'],
    ['x-probe', 'stop-not'],
  ];
  const plain = plugin.newStream({});
  plain.onRequestHeaders(lower, true);
  assert.equal(plain.requestHeaders, lower);
  // A borrowed map the module then changes is copied first.
  const changed: Header[] = [
    [':method', 'GET'],
    ['x-probe', 'headers'],
  ];
  const edited = plugin.newStream({});
  edited.onRequestHeaders(changed, true);
  assert.notEqual(edited.requestHeaders, changed);
  assert.equal(changed.length, 2);
  // A map (what the sidecar and the benchmarks hand over) is borrowed: the module changes the
  // stream's clone, and the same map serves the next stream as it was.
  const map = HeaderMap.of([
    [':method', 'GET'],
    ['x-probe', 'headers'],
    ['x-remove', 'gone'],
  ]);
  const bytes = Buffer.from(map.pairs());
  const first = plugin.newStream({});
  first.onRequestHeaders(map, true);
  assert.ok(first.requestHeaders.some(([k]) => k === 'x-added'));
  assert.notEqual(first.requestHeaderMap, map);
  assert.deepEqual(Buffer.from(map.pairs()), bytes);
  first.release();
  const second = plugin.newStream({});
  second.onRequestHeaders(map, true);
  assert.equal(second.requestHeaders.filter(([k]) => k === 'x-added').length, 1);
  assert.deepEqual(Buffer.from(map.pairs()), bytes);
});
