/** Times and durations as commands take them: `--at 2027-01-31T00:00:00Z`, `--ttl 24h`. */
import { UsageError } from './targets.js';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `90s`, `15m`, `24h`, `30d` in milliseconds. */
export function duration(flag: string, text: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(text);
  if (!m) throw new UsageError(`${flag} ${text}: use a number with s, m, h or d (e.g. 24h)`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** An RFC 3339 time in milliseconds, or now when not given. */
export function instant(flag: string, text: string | undefined): number {
  if (text === undefined) return Date.now();
  const ms = Date.parse(text);
  if (!Number.isFinite(ms) || !/^\d{4}-\d{2}-\d{2}/.test(text))
    throw new UsageError(`${flag} ${text} is not a time (RFC 3339, e.g. 2027-01-31T00:00:00Z)`);
  return ms;
}
