/** How bench/RESULTS.md writes figures: units, ratios, tables, and the rows of a stored suite. */
import { ENGINES } from './engines/engine.js';
import { formatTick } from './svg.js';
import type { Row, StoredSuite } from './types.js';

export const REQUESTS = ['allow hit', 'deny by default', 'deny rule hit', 'unauthenticated'];
export const ORDER = Object.values(ENGINES) as string[];

export const n0 = (x: number) => Math.round(x).toLocaleString('en-US');
export const ns = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : formatTick(x, 'ns'));
export const ms = (x: number | undefined, digits = 1) => (x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(digits)} ms`);
export const ratio = (x: number) => (x >= 100 ? `${n0(x)}×` : x >= 10 ? `${x.toFixed(0)}×` : `${x.toFixed(2)}×`);

export function tableMd(head: string[], rows: (string | number)[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

export const kind = (r: Row) => r.extra?.kind;
export const rowsOf = (s: StoredSuite | undefined, k: string) => (s?.result.rows ?? []).filter((r) => kind(r) === k);
export const when = (s: StoredSuite) =>
  `${s.date.slice(0, 16).replace('T', ' ')} UTC, ${s.seconds} s${s.flags.length ? `, node ${s.flags.join(' ')}` : ''}`;

export function decisionRow(s: StoredSuite | undefined, engine: string, rules: number, request: string): Row | undefined {
  return rowsOf(s, 'decision').find((r) => r.extra?.engine === engine && r.extra?.rules === rules && r.extra?.request === request);
}
