/**
 * protoc-gen-es emits descriptors, not gRPC stubs: this turns a generated service into the
 * ServiceDefinition @grpc/grpc-js serves and the client constructor it dials. The only place
 * that joins the two libraries; everything above it sees typed messages.
 */
import type { DescMethod, DescService } from '@bufbuild/protobuf';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';

function codec(m: DescMethod) {
  return {
    path: `/${m.parent.typeName}/${m.name}`,
    requestStream: m.methodKind === 'client_streaming' || m.methodKind === 'bidi_streaming',
    responseStream: m.methodKind === 'server_streaming' || m.methodKind === 'bidi_streaming',
    requestSerialize: (v: Record<string, unknown>) => Buffer.from(toBinary(m.input, create(m.input, v))),
    requestDeserialize: (b: Buffer) => fromBinary(m.input, b),
    // Responses may arrive already encoded (control/xds/wire.ts); they pass through as they are.
    responseSerialize: (v: Record<string, unknown> | Uint8Array) =>
      v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.from(toBinary(m.output, create(m.output, v))),
    responseDeserialize: (b: Buffer) => fromBinary(m.output, b),
    originalName: m.localName,
  };
}

/** Method name (as in the .proto) → grpc-js method definition. */
export function serviceDefinition(service: DescService): grpc.ServiceDefinition {
  return Object.fromEntries(service.methods.map((m) => [m.name, codec(m)])) as unknown as grpc.ServiceDefinition;
}

export function clientConstructor(service: DescService): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(serviceDefinition(service) as grpc.ServiceDefinition, service.typeName);
}
