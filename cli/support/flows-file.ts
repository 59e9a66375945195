/** A flows file read for a command: its problems become a usage error naming the file. */
import { readFileSync } from 'node:fs';
import { type Flow, parseFlows } from '../../control/eval/flow-file.js';
import { UsageError } from './targets.js';

export function readFlows(file: string): Flow[] {
  const r = parseFlows(readFileSync(file, 'utf8'));
  if (r.ok) return r.value;
  const p = r.problems[0];
  throw new UsageError(`${file}: ${p?.path ? `${p.path} ${p.message}` : p?.message}`);
}
