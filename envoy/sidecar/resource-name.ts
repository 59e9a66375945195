/** Reading a resource's name from its bytes, as an xDS client must for SotW responses (which carry no names). */
import type { Any } from '@bufbuild/protobuf/wkt';

/** The name of a resource in a SotW response: the `name` field every xDS resource type has first. */
export function resourceName(r: Any): string {
  // Field 1 (name) as a length-delimited string: true for Listener, Cluster, RouteConfiguration,
  // TypedExtensionConfig, Secret; ClusterLoadAssignment's cluster_name is field 1 as well.
  const b = r.value;
  if (b[0] !== 0x0a) return '';
  let len = 0;
  let shift = 0;
  let i = 1;
  for (; i < b.length; i++) {
    const byte = b[i] as number;
    len |= (byte & 0x7f) << shift;
    shift += 7;
    if (!(byte & 0x80)) break;
  }
  return Buffer.from(b.subarray(i + 1, i + 1 + len)).toString('utf8');
}
