// Which policy each context uses. Root contexts own the policy installed by their plugin
// configuration; a stream captures its root's when created and keeps it to the end, so one
// request never sees two policies. Streams live in an open-addressing table that only
// grows when more streams are in flight than ever before (no per-request allocation).
import { garbageMade } from "./collect";
import { Policy } from "./policy";

/**
 * A policy as a root context installed it: the tables configure built, never changed, and what
 * is counted against them (each rule's metric and the hits not yet sent to the host).
 */
export class Installed {
  /** Replaced or released: streams still in flight may hold it, new ones never will. */
  retired: bool = false;
  readonly pendingHits: StaticArray<i64>;

  constructor(
    readonly policy: Policy,
    readonly metricIds: StaticArray<u32>,
  ) {
    this.pendingHits = new StaticArray<i64>(policy.rules.length);
  }
}

export class Root {
  constructor(public id: u32) {}
  installed: Installed | null = null;
}

const roots: Root[] = [];

export function rootOf(id: u32): Root | null {
  for (let i = 0; i < roots.length; i++) if (unchecked(roots[i]).id == id) return unchecked(roots[i]);
  return null;
}

export function addRoot(id: u32): Root {
  const existing = rootOf(id);
  if (existing) return existing;
  const r = new Root(id);
  roots.push(r);
  return r;
}

export function removeRoot(id: u32): void {
  for (let i = 0; i < roots.length; i++) {
    if (unchecked(roots[i]).id == id) {
      const p = unchecked(roots[i]).installed;
      if (p) p.retired = true;
      roots.splice(i, 1);
      garbageMade();
      return;
    }
  }
}

let keys = new StaticArray<u32>(1024);
let values = new StaticArray<Installed | null>(1024);
let mask: u32 = 1023;
let count: u32 = 0;

@inline function slotFor(id: u32): u32 {
  return (id * 0x9e3779b1) & mask;
}

function grow(): void {
  const oldKeys = keys;
  const oldValues = values;
  const cap = (mask + 1) << 1;
  keys = new StaticArray<u32>(cap);
  values = new StaticArray<Installed | null>(cap);
  mask = cap - 1;
  count = 0;
  garbageMade();
  for (let i = 0; i < oldKeys.length; i++) {
    const k = unchecked(oldKeys[i]);
    if (k != 0) putStream(k, unchecked(oldValues[i]));
  }
}

export function putStream(id: u32, installed: Installed | null): void {
  if ((count + 1) * 2 > mask + 1) grow();
  let i = slotFor(id);
  while (true) {
    const k = unchecked(keys[i]);
    if (k == 0 || k == id) {
      if (k == 0) count++;
      unchecked((keys[i] = id));
      unchecked((values[i] = installed));
      return;
    }
    i = (i + 1) & mask;
  }
}

/** Whether the stream is known; what it captured is in `found`. */
export let found: Installed | null = null;

export function getStream(id: u32): bool {
  let i = slotFor(id);
  while (true) {
    const k = unchecked(keys[i]);
    if (k == 0) {
      found = null;
      return false;
    }
    if (k == id) {
      found = unchecked(values[i]);
      return true;
    }
    i = (i + 1) & mask;
  }
}

/** Removes a stream, shifting later entries back so lookups never need tombstones. */
export function deleteStream(id: u32): void {
  let i = slotFor(id);
  while (true) {
    const k = unchecked(keys[i]);
    if (k == 0) return;
    if (k == id) break;
    i = (i + 1) & mask;
  }
  const p = unchecked(values[i]);
  // The last streams of a replaced policy are what keep it alive.
  if (p && p.retired) garbageMade();
  unchecked((keys[i] = 0));
  unchecked((values[i] = null));
  count--;
  let j = i;
  while (true) {
    j = (j + 1) & mask;
    const k = unchecked(keys[j]);
    if (k == 0) return;
    const home = slotFor(k);
    // Move k back into the hole when its home slot is not between the hole and j (cyclically).
    const between = i <= j ? home > i && home <= j : home > i || home <= j;
    if (!between) {
      unchecked((keys[i] = k));
      unchecked((values[i] = unchecked(values[j])));
      unchecked((keys[j] = 0));
      unchecked((values[j] = null));
      i = j;
    }
  }
}
