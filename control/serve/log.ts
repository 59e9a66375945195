/** Structured JSON logs (pino), one line per event, to stdout unless told otherwise. */
import { pino } from 'pino';
import { printable } from '../flows/recorded.js';
import type { Logger } from '../xds/server-options.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/**
 * Log fields carry what sidecars and callers sent (NACK messages, node ids, paths): JSON escapes
 * C0 controls but not C1 controls or bidirectional overrides, so every string is made inert first.
 */
function inert(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return printable(v);
  if (depth > 6 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => inert(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[printable(k)] = inert(x, depth + 1);
  return out;
}

export function createLogger(level: LogLevel = 'info', destination?: NodeJS.WritableStream): Logger & { child(b: object): Logger } {
  return pino(
    {
      level,
      base: { service: 'perimeter-control' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { log: (o) => inert(o) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          const [first, ...rest] = args;
          // The message itself too (the object is the formatter's).
          if (typeof rest[0] === 'string') rest[0] = printable(rest[0]);
          else if (typeof first === 'string') return method.apply(this, [printable(first), ...rest] as Parameters<typeof method>);
          return method.apply(this, [first, ...rest] as Parameters<typeof method>);
        },
      },
    },
    destination ?? process.stdout,
  );
}
