/**
 * The snapshot cache: for each node key (a sidecar's SPIFFE ID), per type, the named resources it
 * may see. Type-agnostic: a resource is an `Any` with a name and a content version. Each set
 * replaces a node's snapshot whole, and watchers learn which types changed, so a change to one
 * workload wakes only that workload's streams.
 */
import { createHash } from 'node:crypto';
import { toBinary } from '@bufbuild/protobuf';
import { type Any, AnySchema } from '@bufbuild/protobuf/wkt';

export interface XdsResource {
  name: string;
  /** Content digest of `resource.value`; equal versions mean equal bytes. */
  version: string;
  resource: Any;
  /** `resource` as encoded bytes: encoded once, copied into every response that carries it. */
  encoded: Uint8Array;
}

export interface TypeSnapshot {
  /** Digest of the names and versions of every resource of this type for this node. */
  version: string;
  resources: ReadonlyMap<string, XdsResource>;
  /** When this version was published (ms since epoch): convergence is measured from here. */
  publishedAt: number;
}

export type NodeSnapshot = ReadonlyMap<string, TypeSnapshot>;

/** Called with the node's types whose version changed (including types that disappeared). */
export type Watcher = (changed: ReadonlySet<string>) => void;

export function resourceVersion(value: Uint8Array): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 16);
}

export function xdsResource(name: string, resource: Any): XdsResource {
  return { name, version: resourceVersion(resource.value), resource, encoded: toBinary(AnySchema, resource) };
}

/** Digest of a set of resources by name and version: the version_info of a response carrying them. */
export function setVersion(resources: Iterable<XdsResource>): string {
  const h = createHash('sha256');
  for (const r of [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) h.update(`${r.name}\0${r.version}\n`);
  return h.digest('hex').slice(0, 16);
}

export class SnapshotCache {
  private readonly nodes = new Map<string, NodeSnapshot>();
  private readonly watchers = new Map<string, Set<Watcher>>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Replaces the snapshot of `node`: type URL → its resources. Returns the changed types.
   * A resource name repeated within one type is a programming error (clients NACK it).
   */
  set(node: string, byType: ReadonlyMap<string, readonly XdsResource[]>, at = this.now()): Set<string> {
    const before = this.nodes.get(node);
    const next = new Map<string, TypeSnapshot>();
    const changed = new Set<string>();
    for (const [type, list] of byType) {
      const resources = new Map<string, XdsResource>();
      for (const r of list) {
        if (resources.has(r.name)) throw new Error(`resource ${r.name} of ${type} appears twice for ${node}`);
        resources.set(r.name, r);
      }
      const version = setVersion(list);
      const old = before?.get(type);
      if (old && old.version === version) next.set(type, old);
      else {
        next.set(type, { version, resources, publishedAt: at });
        changed.add(type);
      }
    }
    for (const type of before?.keys() ?? []) if (!next.has(type)) changed.add(type);
    this.nodes.set(node, next);
    if (changed.size > 0) this.notify(node, changed);
    return changed;
  }

  /** Removes a node: its streams see every type it had disappear. */
  clear(node: string): void {
    const before = this.nodes.get(node);
    if (!before) return;
    this.nodes.delete(node);
    this.notify(node, new Set(before.keys()));
  }

  /** Replaces every node at once: nodes absent from `all` are cleared. Returns the nodes that changed. */
  setAll(all: ReadonlyMap<string, ReadonlyMap<string, readonly XdsResource[]>>): string[] {
    // One publication time for the whole snapshot: convergence counts from the change, not
    // from the moment this node's turn came in the loop.
    const at = this.now();
    const touched: string[] = [];
    for (const node of [...this.nodes.keys()])
      if (!all.has(node)) {
        this.clear(node);
        touched.push(node);
      }
    for (const [node, byType] of all) if (this.set(node, byType, at).size > 0) touched.push(node);
    return touched;
  }

  get(node: string, type: string): TypeSnapshot | undefined {
    return this.nodes.get(node)?.get(type);
  }

  has(node: string): boolean {
    return this.nodes.has(node);
  }

  nodeKeys(): IterableIterator<string> {
    return this.nodes.keys();
  }

  watch(node: string, fn: Watcher): () => void {
    const set = this.watchers.get(node) ?? new Set<Watcher>();
    this.watchers.set(node, set);
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.watchers.get(node) === set) this.watchers.delete(node);
    };
  }

  private notify(node: string, changed: ReadonlySet<string>): void {
    for (const fn of [...(this.watchers.get(node) ?? [])]) fn(changed);
  }
}
