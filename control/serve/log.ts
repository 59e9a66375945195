/** Structured JSON logs (pino), one line per event, to stdout unless told otherwise. */
import { pino } from 'pino';
import type { Logger } from '../xds/server.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export function createLogger(level: LogLevel = 'info', destination?: NodeJS.WritableStream): Logger & { child(b: object): Logger } {
  return pino({ level, base: { service: 'perimeter-control' }, timestamp: pino.stdTimeFunctions.isoTime }, destination ?? process.stdout);
}
