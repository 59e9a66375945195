// Where the host's copies go (Envoy copies every result into the module through its malloc).
// The filter holds a copy only until the callback that asked for it returns, so copies that
// fit are placed one after another in a static region that each callback taking copies starts
// empty: no allocator work on the request path, and nothing to leak. A copy too large for what
// is left (a large policy, a huge header map) comes from the heap, as before.

const SCRATCH_SIZE: usize = 65536;
const SCRATCH: usize = memory.data(<i32>SCRATCH_SIZE, 16);
let top: usize = 0;

/** The module's malloc: room for `size` bytes, in the region when they fit. */
export function alloc(size: usize): usize {
  const room = (size + 7) & ~(<usize>7);
  if (room >= size && room <= SCRATCH_SIZE - top) {
    const p = SCRATCH + top;
    top += room;
    return p;
  }
  return heap.alloc(size);
}

/** Gives back a host copy: a no-op for one in the region (emptied by the next callback). */
export function free(p: usize): void {
  if (p - SCRATCH < SCRATCH_SIZE) return;
  if (p != 0) heap.free(p);
}

/** A callback starts: no copy of an earlier one is held, so the region is empty again. */
@inline export function reset(): void {
  top = 0;
}
