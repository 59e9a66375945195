/**
 * Since when each perimeter has had its mode, from the published history: the oldest version of
 * the unbroken run of versions, up to the newest, in which it had the mode it has in the newest.
 */
export interface PublishedModes {
  timeMs: number;
  /** Perimeter name → its mode in that version. */
  modes: ReadonlyMap<string, string>;
}

/** `versions` oldest first. */
export function modeSince(versions: readonly PublishedModes[]): Map<string, { mode: string; sinceMs: number }> {
  const out = new Map<string, { mode: string; sinceMs: number }>();
  const newest = versions[versions.length - 1];
  if (!newest) return out;
  for (const [name, mode] of newest.modes) {
    let since = newest.timeMs;
    for (let i = versions.length - 2; i >= 0; i--) {
      const v = versions[i] as PublishedModes;
      if (v.modes.get(name) !== mode) break;
      since = v.timeMs;
    }
    out.set(name, { mode, sinceMs: since });
  }
  return out;
}
