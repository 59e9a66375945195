/**
 * The history of published versions kept in etcd, for several control-server replicas sharing
 * one source of truth (docs/ha.md). Under the prefix (default `/perimeter`):
 *   blobs/<name>      a compiled policy, named by its version (or `src-<digest>`: the sources)
 *   history/<seq>     one entry (JSON), seq zero-padded so the keys sort
 *   current           the seq of the newest entry
 * A publish is one transaction conditioned on the revision of `current` its writer read: two
 * writers can never both publish on the same version, and a crash leaves the previous version
 * whole. Everything read back is checked: a blob whose content does not match its name, or an
 * entry that does not decode, is refused with an error and never served.
 */
import { Etcd3, type IOptions } from 'etcd3';
import { fail, ok, type Result } from '../../contracts/problem.js';
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { digest, encodeVersioned } from '../compile/compile.js';
import { type HistoryEntry, HistoryError } from '../serve/history.js';

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

const pad = (seq: number) => String(seq).padStart(6, '0');

export class EtcdHistory {
  private constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
  ) {}

  static connect(hosts: readonly string[], prefix = DEFAULT_PREFIX, options: Partial<IOptions> = {}): EtcdHistory {
    const client = new Etcd3({ hosts: hosts.map((h) => (h.includes('://') ? h : `http://${h}`)), dialTimeout: 3000, ...options });
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
    const kv = r.kvs[0];
    if (!kv) return { seq: 0, revision: '0' };
    const seq = Number(kv.value.toString());
    if (!Number.isInteger(seq) || seq < 1)
      throw new HistoryError(`${this.key('current')} holds "${kv.value.toString().slice(0, 40)}", not a version number`);
    return { seq, revision: kv.mod_revision };
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
    const key = this.key('blobs', name);
    const v = await this.client.get(key).buffer();
    if (!v) throw new HistoryError(`blob ${name} is missing from ${key}`);
    const bytes = new Uint8Array(v);
    const problem = blobProblem(name, bytes);
    if (problem) throw new HistoryError(`blob ${key} is refused: ${problem}`);
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
    const txn = fence ? base.and(fence.key, 'Create', '==', fence.createRevision) : base;
    const puts = [
      ...[...blobs].map(([name, bytes]) => this.client.put(this.key('blobs', name)).value(Buffer.from(bytes))),
      this.client.put(this.key('history', pad(seq))).value(JSON.stringify(full)),
      this.client.put(current).value(String(seq)),
    ];
    const r = await txn.then(...puts).commit();
    if (!r.succeeded) {
      if (fence && !(await this.holds(fence)))
        return fail('', 'this replica is no longer the leader (its lease ended): nothing was published', 'the new leader publishes');
      const now = await this.head();
      return fail('', `the current version moved to #${now.seq} while #${expected.seq} was read`, 'read the store again and retry');
    }
    return ok(full);
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
