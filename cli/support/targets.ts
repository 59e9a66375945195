/** Resolves what a user names on the command line (workload name or SPIFFE ID) in a compiled policy set. */

import { CONNECTION_LIMITS, type ConnectionLimits } from '../../contracts/connection-limits.js';
import type { CompiledWorkload, CompileResult } from '../../control/compile/compile.js';
import { flag, type OptionsOf } from './flags.js';

export class UsageError extends Error {}

export function findWorkload(result: CompileResult, nameOrId: string): CompiledWorkload {
  const w = result.workloads.find((x) => x.workload.name === nameOrId || x.workload.identity === nameOrId);
  if (!w) {
    const known = result.workloads.map((x) => x.workload.name).join(', ');
    throw new UsageError(`no workload "${nameOrId}" in the policy (known: ${known || 'none'})`);
  }
  return w;
}

/** The workload a command renders configuration for, named in the policy directory `dir`. */
export function workloadIn(result: CompileResult, nameOrId: string, dir: string): CompiledWorkload {
  const w = result.workloads.find((x) => x.workload.name === nameOrId || x.workload.identity === nameOrId);
  if (!w) throw new UsageError(`no workload ${nameOrId} in ${dir} (known: ${result.workloads.map((x) => x.workload.name).join(', ')})`);
  return w;
}

/** `unauthenticated`, a SPIFFE ID, or a registered workload's name → peer identity. */
export function callerIdentity(result: CompileResult, from: string): string | undefined {
  if (from === 'unauthenticated') return undefined;
  if (from.startsWith('spiffe://')) return from;
  const w = result.workloads.find((x) => x.workload.name === from);
  if (!w) throw new UsageError(`--from "${from}" is not unauthenticated, a spiffe:// ID or a registered workload`);
  return w.workload.identity;
}

/** A port given on the command line; 0 (any free port) only where a listener may pick one. */
export function portArg(flag: string, v: string, allowZero = false): number {
  const n = Number(v);
  const min = allowZero ? 0 : 1;
  if (!/^\d+$/.test(v) || n < min || n > 65535) throw new UsageError(`${flag} ${v}: a port number (${min}-65535)`);
  return n;
}

/** An inbound listener's bounds, in seconds and connections: the sidecar's and the bootstrap's flags. */
export const LIMIT_FLAGS = {
  handshakeTimeout: flag.withDefault('--handshake-timeout <s>', 'close an inbound connection whose TLS handshake takes longer', '10'),
  headersTimeout: flag.withDefault('--headers-timeout <s>', 'close an inbound connection whose request headers take longer', '10'),
  idleTimeout: flag.withDefault('--idle-timeout <s>', 'close an inbound connection idle this long', '300'),
  maxConnections: flag.withDefault('--max-connections <n>', 'refuse inbound connections past this many', '4096'),
  maxStreams: flag.withDefault('--max-streams <n>', 'HTTP/2: refuse a stream past this many in flight on one connection', '100'),
};

/** What a verified token must be: the sidecar's and the bootstrap's jwt_authn flags. */
export const JWT_FLAGS = {
  jwtIssuer: flag.string('--jwt-issuer <iss>', 'expected JWT issuer'),
  jwtAudience: flag.list('--jwt-audience <aud>', 'a token must be minted for this audience (repeatable: any of them)'),
};

export type LimitOptions = Partial<OptionsOf<typeof LIMIT_FLAGS>>;

/** `--handshake-timeout`, `--headers-timeout`, `--idle-timeout` (seconds), `--max-connections` and `--max-streams`, over the defaults. */
export function limitsArg(o: LimitOptions): ConnectionLimits {
  const secs = (flag: string, v: string | undefined, dflt: number) => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || n > 86_400) throw new UsageError(`${flag} ${v}: seconds, more than 0 and at most 86400`);
    return Math.round(n * 1000);
  };
  const count = (flag: string, v: string | undefined, dflt: number) => {
    const n = v === undefined ? dflt : Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 31 - 1) throw new UsageError(`${flag} ${v}: a positive integer`);
    return n;
  };
  return {
    handshakeTimeoutMs: secs('--handshake-timeout', o.handshakeTimeout, CONNECTION_LIMITS.handshakeTimeoutMs),
    headersTimeoutMs: secs('--headers-timeout', o.headersTimeout, CONNECTION_LIMITS.headersTimeoutMs),
    idleTimeoutMs: secs('--idle-timeout', o.idleTimeout, CONNECTION_LIMITS.idleTimeoutMs),
    maxConnections: count('--max-connections', o.maxConnections, CONNECTION_LIMITS.maxConnections),
    maxConcurrentStreams: count('--max-streams', o.maxStreams, CONNECTION_LIMITS.maxConcurrentStreams),
  };
}

/** `host:port` or `[v6]:port` given on the command line. */
export function hostPortArg(flag: string, v: string, allowZero = false): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(v);
  if (!m) throw new UsageError(`${flag} ${v}: expected host:port`);
  return { host: (m[1] ?? m[2]) as string, port: portArg(flag, m[3] as string, allowZero) };
}
