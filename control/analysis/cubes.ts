/**
 * Regions of the request space as unions of disjoint cubes: a cube is one set of classes per
 * dimension (a bitset), and holds every request whose attributes fall in all of them.
 * Subtracting a cube splits the other into at most one piece per dimension, so a policy of a
 * few rules stays a few cubes.
 */

export type Cube = readonly bigint[];

export function isEmpty(c: Cube): boolean {
  for (const d of c) if (d === 0n) return true;
  return false;
}

export function intersect(a: Cube, b: Cube): Cube | undefined {
  const out: bigint[] = [];
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as bigint) & (b[i] as bigint);
    if (d === 0n) return undefined;
    out.push(d);
  }
  return out;
}

/** a \ b as disjoint cubes: piece i agrees with b on the dimensions before i and leaves it on i. */
export function subtract(a: Cube, b: Cube): Cube[] {
  if (!intersect(a, b)) return [a];
  const out: Cube[] = [];
  const prefix: bigint[] = [];
  for (let i = 0; i < a.length; i++) {
    const ai = a[i] as bigint;
    const bi = b[i] as bigint;
    const outside = ai & ~bi;
    if (outside !== 0n) out.push([...prefix, outside, ...a.slice(i + 1)]);
    prefix.push(ai & bi);
  }
  return out;
}

/** ⋃as \ ⋃bs. */
export function difference(as: readonly Cube[], bs: readonly Cube[]): Cube[] {
  let rest = [...as];
  for (const b of bs) rest = rest.flatMap((a) => subtract(a, b));
  return rest;
}

/** The first request region of `as` inside `within`, or undefined. */
export function firstMeet(as: readonly Cube[], within: readonly Cube[]): Cube | undefined {
  for (const w of within)
    for (const a of as) {
      const m = intersect(a, w);
      if (m) return m;
    }
  return undefined;
}

/** The lowest class of each dimension: the most readable request of the cube (classes are ordered so). */
export function lowest(c: Cube): number[] {
  return c.map((d) => {
    let i = 0;
    while (((d >> BigInt(i)) & 1n) === 0n) i++;
    return i;
  });
}
