/**
 * The history of published versions kept in etcd, for several control-server replicas sharing
 * one source of truth (docs/ha.md). Under the prefix (default `/perimeter`):
 *   blobs/<name>      a compiled policy, named by its version (or `src-<digest>`: the sources)
 *   history/<seq>     one entry (JSON), seq zero-padded so the keys sort
 *   current           the seq of the newest entry
 *   quarantine        the quarantined identities (JSON), changed only with an entry that serves them
 *   rejected          the last change refused (JSON), for status
 *   ca/*              the mesh CA: certificate, trust domain, and the key sealed with the operator's key
 *   replicas/<id>     each replica and its sidecars, under the replica's lease (gone when it dies)
 *   election/leader/  the leader election
 * A publish is one transaction conditioned on the revision of `current` its writer read: two
 * writers can never both publish on the same version, and a crash leaves the previous version
 * whole. Everything read back is checked: a blob whose content does not match its name, or an
 * entry that does not decode, is refused with an error and never served.
 */
import { Etcd3, type IKeyValue, type IOptions } from 'etcd3';
import { fail, ok, type Result, reasonOf } from '../../contracts/problem.js';
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { digest, encodeVersioned } from '../compile/compile.js';
import { type HistoryEntry, HistoryError } from '../serve/history.js';
import type { Rejected } from '../serve/published.js';
import { parseQuarantine, type QuarantineEntry } from '../serve/quarantine.js';
import type { ReplicaReport } from '../serve/status.js';
import { parseReplicaRecord } from './replica-record.js';

export const DEFAULT_PREFIX = '/perimeter';

/** `etcd://host:port,host:port` as the client's endpoints. */
export function parseStoreUrl(url: string): Result<string[]> {
  const m = /^etcd:\/\/(.+)$/.exec(url);
  if (!m) return fail('', `"${url}" is not an etcd store`, 'write --store etcd://host:port[,host:port…]');
  const hosts = (m[1] as string).split(',').map((h) => h.trim());
  const bad = hosts.find((h) => !/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(h));
  if (bad !== undefined) return fail('', `"${bad}" is not host:port`, 'write --store etcd://10.0.0.1:2379,10.0.0.2:2379');
  return ok(hosts);
}

/**
 * Proof of leadership for a publish: the leader's campaign key and its create revision. The key
 * lives as long as the leader's lease; once the lease ends it is gone, and a publish fenced by
 * it is refused by the transaction itself, whatever the former leader still believes.
 */
export interface Fence {
  key: string;
  createRevision: string;
}

/** A replica's entry under its lease. */
export interface Registration {
  refresh(): Promise<void>;
  revoke(): Promise<void>;
}

/** One replica's bid to be the only writer: elected once every earlier candidate is gone. */
export interface Candidacy {
  /** Resolves when this replica leads; rejects if its lease fails first. */
  elected: Promise<Fence>;
  /** Called once if the lease is lost after election (the replica must stop writing). */
  onLost(handler: (e: Error) => void): void;
  resign(): Promise<void>;
}

/** Where the newest entry is and the revision a conditional publish must find unchanged (0: nothing yet). */
export interface Head {
  seq: number;
  revision: string;
}

/** The quarantine list and the revision a change to it must find unchanged ('0': never set). */
export interface QuarantineState {
  list: QuarantineEntry[];
  revision: string;
}

/** The mesh CA as stored: the key sealed (ca-seal.ts), never in the clear. */
export interface StoredCa {
  certPem: string;
  sealedKey: string;
  trustDomain: string;
}

/** Unary calls give up after this: with quorum lost, a write fails with a clear error instead of hanging. */
const CALL_DEADLINE_MS = 3_000;

const pad = (seq: number) => String(seq).padStart(6, '0');

/** Checked blobs kept in memory, by name. */
const BLOB_CACHE = 4_096;

export class EtcdHistory {
  private readonly blobs = new Map<string, Uint8Array>();

  private constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
  ) {}

  static connect(hosts: readonly string[], prefix = DEFAULT_PREFIX, options: Partial<IOptions> = {}): EtcdHistory {
    const client = new Etcd3({
      hosts: hosts.map((h) => (h.includes('://') ? h : `http://${h}`)),
      dialTimeout: 3000,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
      ...options,
    });
    return new EtcdHistory(client, prefix.replace(/\/+$/, ''));
  }

  close(): void {
    this.client.close();
  }

  private key(...parts: string[]): string {
    return [this.prefix, ...parts].join('/');
  }

  /** The newest entry's number and the revision of the pointer to it. */
  async head(): Promise<Head> {
    const r = await this.client.get(this.key('current')).exec();
    return this.headOf(r.kvs[0]);
  }

  private headOf(kv: IKeyValue | undefined): Head {
    if (!kv) return { seq: 0, revision: '0' };
    const seq = Number(kv.value.toString());
    if (!Number.isInteger(seq) || seq < 1)
      throw new HistoryError(`${this.key('current')} holds "${kv.value.toString().slice(0, 40)}", not a version number`);
    return { seq, revision: kv.mod_revision };
  }

  /**
   * The pointer, the quarantine list and the entry served, read at one store revision in one
   * round trip: the newest history key is the entry the pointer names (they are written in the
   * same transaction), and when it is not (a key past the padding's width), it is read by number.
   */
  async serving(): Promise<{ head: Head; quarantine: QuarantineState; entry: HistoryEntry | undefined }> {
    const current = this.key('current');
    const r = await this.client
      .if(current, 'Version', '>', -1)
      .then(
        this.client.get(current),
        this.client.get(this.key('quarantine')),
        this.client.getAll().prefix(this.key('history', '')).sort('Key', 'Descend').limit(1),
      )
      .commit();
    const [c, q, h] = r.responses.map((x) => x.response_range?.kvs[0]);
    const head = this.headOf(c);
    const quarantine = this.quarantineOf(q);
    if (head.seq === 0) return { head, quarantine, entry: undefined };
    const key = this.key('history', pad(head.seq));
    const entry = h && h.key.toString() === key ? decodeEntry(key, h.value) : await this.entry(head.seq);
    return { head, quarantine, entry };
  }

  /** Every entry, oldest first; an entry that does not decode is an error, never skipped. */
  async entries(): Promise<HistoryEntry[]> {
    const all = await this.client.getAll().prefix(this.key('history', '')).buffers();
    return Object.entries(all)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => decodeEntry(k, v));
  }

  /** A blob, checked against its name: a compiled policy must carry that version, sources must hash to it. */
  async blob(name: string): Promise<Uint8Array> {
    const cached = this.blobs.get(name);
    if (cached) return cached;
    const key = this.key('blobs', name);
    const v = await this.client.get(key).buffer();
    if (!v) throw new HistoryError(`blob ${name} is missing from ${key}`);
    const bytes = new Uint8Array(v);
    const problem = blobProblem(name, bytes);
    if (problem) throw new HistoryError(`blob ${key} is refused: ${problem}`);
    // Blobs never change under a name, so a checked one is kept (a bounded few: each version's policies).
    if (this.blobs.size >= BLOB_CACHE) this.blobs.clear();
    this.blobs.set(name, bytes);
    return bytes;
  }

  /**
   * Publishes an entry and the blobs it names in one transaction, if the pointer is still at
   * `expected` (the head this writer read). Otherwise nothing is written and the problem says
   * who moved it.
   */
  async publish(
    entry: Omit<HistoryEntry, 'seq'>,
    blobs: ReadonlyMap<string, Uint8Array>,
    expected: Head,
    fence?: Fence,
    quarantine?: { list: readonly QuarantineEntry[]; expected: string },
  ): Promise<Result<HistoryEntry>> {
    for (const [name, bytes] of blobs) {
      const problem = blobProblem(name, bytes);
      if (problem) return fail('', `blob ${name}: ${problem}`);
    }
    const seq = expected.seq + 1;
    const full: HistoryEntry = { seq, ...entry };
    const current = this.key('current');
    const base =
      expected.revision === '0' ? this.client.if(current, 'Create', '==', 0) : this.client.if(current, 'Mod', '==', expected.revision);
    const fenced = fence ? base.and(fence.key, 'Create', '==', fence.createRevision) : base;
    const txn = quarantine ? fenced.and(this.key('quarantine'), 'Mod', '==', quarantine.expected) : fenced;
    const puts = [
      ...[...blobs].map(([name, bytes]) => this.client.put(this.key('blobs', name)).value(Buffer.from(bytes))),
      this.client.put(this.key('history', pad(seq))).value(JSON.stringify(full)),
      this.client.put(current).value(String(seq)),
      ...(quarantine ? [this.client.put(this.key('quarantine')).value(JSON.stringify(quarantine.list))] : []),
    ];
    const r = await txn.then(...puts).commit();
    if (!r.succeeded) {
      if (fence && !(await this.holds(fence)))
        return fail('', 'this replica is no longer the leader (its lease ended): nothing was published', 'the new leader publishes');
      const now = await this.head();
      if (now.revision === expected.revision) return fail('', 'the quarantine list changed meanwhile', 'read the store again and retry');
      return fail('', `the current version moved to #${now.seq} while #${expected.seq} was read`, 'read the store again and retry');
    }
    return ok(full);
  }

  /** One entry by number. */
  async entry(seq: number): Promise<HistoryEntry> {
    const key = this.key('history', pad(seq));
    const v = await this.client.get(key).buffer();
    if (!v) throw new HistoryError(`${key} is missing: the current version names an entry the store does not hold`);
    return decodeEntry(key, v);
  }

  async quarantine(): Promise<QuarantineState> {
    const r = await this.client.get(this.key('quarantine')).exec();
    return this.quarantineOf(r.kvs[0]);
  }

  private quarantineOf(kv: IKeyValue | undefined): QuarantineState {
    if (!kv) return { list: [], revision: '0' };
    // Fail closed: a damaged list must not quietly lift a quarantine.
    const list = parseQuarantine(kv.value.toString('utf8'), this.key('quarantine'));
    if (!list.ok) throw new HistoryError(reasonOf(list));
    return { list: list.value, revision: kv.mod_revision };
  }

  /** Sets the list alone, when nothing is served yet (there is no entry to change with it). */
  async setQuarantineAlone(list: readonly QuarantineEntry[], expected: QuarantineState, head: Head): Promise<Result<void>> {
    const key = this.key('quarantine');
    const current = this.key('current');
    const r = await this.client
      .if(key, 'Mod', '==', expected.revision)
      .and(current, 'Mod', '==', head.revision)
      .then(this.client.put(key).value(JSON.stringify(list)))
      .commit();
    return r.succeeded ? ok(undefined) : fail('', 'the store changed meanwhile', 'read the store again and retry');
  }

  async rejected(): Promise<Rejected | undefined> {
    const v = await this.client.get(this.key('rejected')).string();
    if (!v) return undefined;
    try {
      const r = JSON.parse(v) as Rejected;
      return typeof r.at === 'number' && typeof r.errors === 'number' && Array.isArray(r.messages)
        ? { at: r.at, errors: r.errors, messages: r.messages.map(String) }
        : undefined;
    } catch {
      return undefined;
    }
  }

  /** Records the last refused change (it changes nothing that sidecars get, so it needs no condition). */
  async putRejected(r: Rejected): Promise<void> {
    await this.client.put(this.key('rejected')).value(JSON.stringify(r));
  }

  async ca(): Promise<StoredCa | undefined> {
    const all = await this.client.getAll().prefix(this.key('ca', '')).strings();
    const [certPem, sealedKey, trustDomain] = ['cert', 'key', 'trust-domain'].map((n) => all[this.key('ca', n)]);
    if (!certPem && !sealedKey && !trustDomain) return undefined;
    if (!certPem || !sealedKey || !trustDomain)
      throw new HistoryError(`${this.key('ca')} is incomplete: it needs cert, key and trust-domain`);
    return { certPem, sealedKey, trustDomain };
  }

  /** Stores a CA if the store has none; the CA that is there afterwards (another replica's, if it was first). */
  async putCaIfAbsent(ca: StoredCa): Promise<{ ca: StoredCa; stored: boolean }> {
    const cert = this.key('ca', 'cert');
    const r = await this.client
      .if(cert, 'Create', '==', 0)
      .then(
        this.client.put(cert).value(ca.certPem),
        this.client.put(this.key('ca', 'key')).value(ca.sealedKey),
        this.client.put(this.key('ca', 'trust-domain')).value(ca.trustDomain),
      )
      .commit();
    if (r.succeeded) return { ca, stored: true };
    const there = await this.ca();
    if (!there) throw new HistoryError('the CA vanished from the store');
    return { ca: there, stored: false };
  }

  /**
   * Keeps `value()` under `replicas/<id>` for as long as this process lives, on a lease of
   * `ttlSeconds`: a replica that dies disappears by itself. `refresh` writes the value again.
   */
  register(id: string, ttlSeconds: number, value: () => string): Registration {
    const key = this.key('replicas', id);
    let lease = this.client.lease(ttlSeconds, { autoKeepAlive: true });
    let last = '';
    let writing = false;
    // A lease lost (etcd unreachable past the TTL) is dead for good: the next refresh takes a new one.
    const watchLoss = (l: typeof lease) =>
      l.on('lost', () => {
        if (lease !== l) return;
        lease = this.client.lease(ttlSeconds, { autoKeepAlive: true });
        watchLoss(lease);
        last = '';
      });
    watchLoss(lease);
    const refresh = async () => {
      const v = value();
      if (v === last || writing) return;
      writing = true;
      try {
        await lease.put(key).value(v).exec();
        last = v;
      } catch {
        // Unreachable: tried again on the next refresh.
      } finally {
        writing = false;
      }
    };
    return { refresh, revoke: () => lease.revoke().catch(() => {}) };
  }

  /** Every live replica as it registered itself; a record that does not parse (replica-record.ts) is left out, never trusted. */
  async replicas(): Promise<ReplicaReport[]> {
    const all = await this.client.getAll().prefix(this.key('replicas', '')).strings();
    return Object.values(all).flatMap((v) => parseReplicaRecord(v) ?? []);
  }

  /**
   * Calls `changed` with the key (below the prefix) and the store revision of every change to
   * `current`, `quarantine` or `rejected`.
   */
  async watch(changed: (key: string, revision: number) => void, connection: (up: boolean) => void): Promise<() => Promise<void>> {
    // The three keys alone: a watch on the whole prefix would also carry every blob published
    // and every replica's registration to every replica, and each replica reads those itself.
    const watchers = await Promise.all(
      (['current', 'quarantine', 'rejected'] as const).map(async (k) => {
        const w = await this.client.watch().key(this.key(k)).create();
        const on = (kv: { mod_revision: string }) => changed(k, Number(kv.mod_revision));
        w.on('put', on);
        w.on('delete', on);
        w.on('disconnected', () => connection(false));
        w.on('connected', () => connection(true));
        w.on('error', () => connection(false));
        return w;
      }),
    );
    return async () => {
      await Promise.all(watchers.map((w) => w.cancel()));
    };
  }

  /** Whether a fence still stands (its key exists with that create revision). */
  async holds(fence: Fence): Promise<boolean> {
    const r = await this.client.get(fence.key).exec();
    return r.kvs[0]?.create_revision === fence.createRevision;
  }

  /**
   * Campaigns to lead, under `<prefix>/election/leader`, with a lease of `ttlSeconds`: the lease is
   * kept alive while this process runs, so a replica that dies loses the role within the TTL.
   */
  campaign(id: string, ttlSeconds = 5): Candidacy {
    const campaign = this.client.namespace(`${this.prefix}/`).election('leader', ttlSeconds).campaign(id);
    let lostHandler: ((e: Error) => void) | undefined;
    let leading = false;
    const elected = new Promise<Fence>((resolve, reject) => {
      campaign.on('error', (e: Error) => {
        if (leading) lostHandler?.(e);
        else reject(e);
      });
      campaign.on('elected', async () => {
        try {
          const key = await campaign.getCampaignKey();
          const r = await this.client.get(key).exec();
          const kv = r.kvs[0];
          if (!kv) throw new HistoryError(`the campaign key ${key} vanished as this replica was elected`);
          leading = true;
          resolve({ key, createRevision: kv.create_revision });
        } catch (e) {
          reject(e as Error);
        }
      });
    });
    return {
      elected,
      onLost: (h) => {
        lostHandler = h;
      },
      resign: () => campaign.resign(),
    };
  }
}

function decodeEntry(key: string, v: Buffer): HistoryEntry {
  let e: HistoryEntry;
  try {
    e = JSON.parse(v.toString('utf8')) as HistoryEntry;
  } catch (err) {
    throw new HistoryError(`${key} is not an entry (${(err as Error).message})`);
  }
  const seq = Number(key.slice(key.lastIndexOf('/') + 1));
  if (
    typeof e !== 'object' ||
    e === null ||
    e.seq !== seq ||
    typeof e.version !== 'string' ||
    !Array.isArray(e.workloads) ||
    e.workloads.some((w) => typeof w?.name !== 'string' || typeof w?.version !== 'string' || typeof w?.identity !== 'string')
  )
    throw new HistoryError(`${key} is not an entry of version #${seq}`);
  return e;
}

/** Why bytes are not the blob their name says, or undefined. */
function blobProblem(name: string, bytes: Uint8Array): string | undefined {
  if (name.startsWith('src-')) return digest(bytes) === name.slice(4) ? undefined : 'its content does not hash to its name';
  let message: CompiledPolicy;
  try {
    message = CompiledPolicy.decode(bytes);
  } catch (e) {
    return `it does not decode as a compiled policy (${(e as Error).message})`;
  }
  const again = encodeVersioned(message);
  if (again.version !== name || message.version !== name) return `its content is version ${again.version}, not ${name}`;
  if (Buffer.compare(Buffer.from(again.bytes), Buffer.from(bytes)) !== 0) return 'its bytes are not the canonical encoding of its version';
  return undefined;
}
