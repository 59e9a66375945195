/** Percentiles of samples, by nearest rank (the sample at or just below the rank): NaN of none. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

export const median = (xs: readonly number[]): number => percentile(xs, 50);
