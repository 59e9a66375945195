/** gRPC status codes, for the code above this layer that ends a call or reads how one ended. */
export { status as Status } from '@grpc/grpc-js';
