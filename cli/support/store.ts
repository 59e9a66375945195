/**
 * The shared store flags (`--store etcd://…`, its prefix, TLS and auth) and the store they name,
 * for `serve`, `apply` and the commands that read or change versions without a server.
 */
import { readFileSync } from 'node:fs';
import { reasonOf } from '../../contracts/problem.js';
import { MIN_SECRET_BYTES } from '../../control/ha/ca-seal.js';
import { StoreWriter } from '../../control/ha/store-writer.js';
import { type HistoryEntry, HistoryError } from '../../control/serve/history.js';
import type { QuarantineEntry } from '../../control/serve/quarantine.js';
import { readServerFile, type StoreRef } from '../../control/serve/server-file.js';
import { DEFAULT_PREFIX, EtcdHistory, parseStoreUrl } from '../../control/store/etcd-history.js';
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { flag } from './flags.js';
import { UsageError } from './targets.js';
import { type Change, report } from './until-in-effect.js';

export const STORE_FLAGS = {
  store: flag.string('--store <etcd://host:port,…>', 'the shared store (etcd v3) of the replicas, instead of the state directory'),
  storePrefix: flag.withDefault('--store-prefix <prefix>', 'the keys under which Perimeter keeps its state in etcd', DEFAULT_PREFIX),
  etcdCa: flag.string('--etcd-ca <file>', 'CA bundle that verifies the etcd members (TLS to etcd)'),
  etcdCert: flag.string('--etcd-cert <file>', 'client certificate for etcd (with --etcd-key)'),
  etcdKey: flag.string('--etcd-key <file>', 'client key for etcd'),
  etcdUser: flag.string('--etcd-user <name>', 'etcd user (the password from PERIMETER_ETCD_PASSWORD)'),
};

export interface StoreFlags {
  store?: string | undefined;
  storePrefix: string;
  etcdCa?: string | undefined;
  etcdCert?: string | undefined;
  etcdKey?: string | undefined;
  etcdUser?: string | undefined;
}

/** The store flags as a replica records them in server.json (paths only; the password stays in the environment). */
export function storeRef(o: StoreFlags & { store: string }): StoreRef {
  return {
    url: o.store,
    prefix: o.storePrefix,
    ...(o.etcdCa ? { etcdCa: o.etcdCa } : {}),
    ...(o.etcdCert ? { etcdCert: o.etcdCert } : {}),
    ...(o.etcdKey ? { etcdKey: o.etcdKey } : {}),
    ...(o.etcdUser ? { etcdUser: o.etcdUser } : {}),
  };
}

/**
 * The store to read: the one the flags name, else the one the replica running with `--state`
 * serves from (so `versions` and `diff` on a replica's host answer from what it serves, not from
 * a state directory that holds no history), else none.
 */
export function storeOfState<T extends StoreFlags>(o: T & { state: string }): T {
  if (o.store) return o;
  // Read as data another process wrote: used only in the shape a replica writes.
  const ref: unknown = readServerFile(o.state)?.store;
  if (!isStoreRef(ref)) return o;
  return {
    ...o,
    store: ref.url,
    storePrefix: ref.prefix,
    etcdCa: ref.etcdCa,
    etcdCert: ref.etcdCert,
    etcdKey: ref.etcdKey,
    etcdUser: ref.etcdUser,
  };
}

function isStoreRef(v: unknown): v is StoreRef {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const optional = (k: string) => r[k] === undefined || typeof r[k] === 'string';
  return typeof r.url === 'string' && typeof r.prefix === 'string' && ['etcdCa', 'etcdCert', 'etcdKey', 'etcdUser'].every(optional);
}

/** The store's name as status and logs show it. */
export const storeName = (o: StoreFlags) => `${o.store}${o.storePrefix}`;

export function openStore(o: StoreFlags & { store: string }): EtcdHistory {
  const hosts = parseStoreUrl(o.store);
  if (!hosts.ok) throw new UsageError(`--store: ${reasonOf(hosts)}`);
  if (!/^\/[A-Za-z0-9._/-]*$/.test(o.storePrefix)) throw new UsageError(`--store-prefix ${o.storePrefix}: a key path such as /perimeter`);
  if (Boolean(o.etcdCert) !== Boolean(o.etcdKey)) throw new UsageError('--etcd-cert and --etcd-key go together');
  const read = (flagName: string, f: string) => {
    try {
      return readFileSync(f);
    } catch (e) {
      throw new UsageError(`${flagName} ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const tls = o.etcdCa !== undefined || o.etcdCert !== undefined;
  const password = process.env.PERIMETER_ETCD_PASSWORD;
  if (o.etcdUser && !password) throw new UsageError('--etcd-user needs the password in PERIMETER_ETCD_PASSWORD');
  return EtcdHistory.connect(
    hosts.value.map((h) => `${tls ? 'https' : 'http'}://${h}`),
    o.storePrefix,
    {
      ...(tls
        ? {
            credentials: {
              rootCertificate: o.etcdCa ? read('--etcd-ca', o.etcdCa) : Buffer.alloc(0),
              ...(o.etcdCert && o.etcdKey ? { certChain: read('--etcd-cert', o.etcdCert), privateKey: read('--etcd-key', o.etcdKey) } : {}),
            },
          }
        : {}),
      ...(o.etcdUser && password ? { auth: { username: o.etcdUser, password } } : {}),
    },
  );
}

/** Runs `f` on the store named by the flags, and closes it after; the store's errors are usage errors. */
export async function withStore<T>(o: StoreFlags & { store?: string | undefined }, f: (s: EtcdHistory) => Promise<T>): Promise<T> {
  if (!o.store) throw new UsageError('--store is needed here');
  const store = openStore({ ...o, store: o.store });
  try {
    return await f(store);
  } catch (e) {
    if (e instanceof HistoryError || /etcd|deadline|unavailable|connect/i.test((e as Error).message))
      throw new UsageError(`store ${storeName(o)}: ${(e as Error).message}`);
    throw e;
  } finally {
    store.close();
  }
}

/** The compiled policies of an entry in the store, by workload name (each blob checked). */
export async function storedPolicies(s: EtcdHistory, e: HistoryEntry): Promise<Map<string, CompiledPolicy>> {
  return new Map(await Promise.all(e.workloads.map(async (w) => [w.name, CompiledPolicy.decode(await s.blob(w.version))] as const)));
}

/** A quarantine or a release made in the store; then waits, as through a server, for every replica's sidecars. */
export async function storeQuarantineChange(
  o: StoreFlags & { store: string; state: string; wait: string; json?: boolean | undefined },
  kind: 'quarantine' | 'release',
  entry: QuarantineEntry,
): Promise<number> {
  const started = performance.now();
  return withStore(o, async (s) => {
    const w = await new StoreWriter(s).editQuarantine(kind, entry);
    if (!w.ok) throw new UsageError(reasonOf(w));
    const e = w.value?.entry;
    const change: Change = { entry, published: e ? { version: e.version, seq: e.seq } : undefined };
    return report(kind === 'quarantine' ? 'quarantined' : 'released', change, started, o, s);
  });
}

/** The operator's secret that seals the CA key in the store: a file, or PERIMETER_CA_KEY. */
export function caSecret(file: string | undefined): Uint8Array | undefined {
  if (file) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw new UsageError(`--ca-key-file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const text = bytes.toString('utf8').trim();
    if (Buffer.byteLength(text) < MIN_SECRET_BYTES)
      throw new UsageError(`--ca-key-file ${file}: at least ${MIN_SECRET_BYTES} bytes of secret (openssl rand -base64 32)`);
    return Buffer.from(text);
  }
  const env = process.env.PERIMETER_CA_KEY;
  if (env !== undefined && Buffer.byteLength(env) < MIN_SECRET_BYTES)
    throw new UsageError(`PERIMETER_CA_KEY: at least ${MIN_SECRET_BYTES} bytes of secret`);
  return env ? Buffer.from(env) : undefined;
}
