/** Hop-by-hop headers belong to one connection: a proxy never forwards them (RFC 9110 §7.6.1). */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
]);

/** Whether a proxy drops a header (lower-case name) between hops: a pseudo-header (the request or status line's own) or a hop-by-hop one. */
export function notForwarded(name: string): boolean {
  return name.charCodeAt(0) === 0x3a || HOP_BY_HOP.has(name);
}
