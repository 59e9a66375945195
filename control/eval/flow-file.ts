/**
 * A file of flows (`flows:` in YAML): requests by name, each with the verdict it should get.
 * `perimeter check --flows`, the demo and the tests play them.
 */
import { parse } from 'yaml';
import type { Outcome } from '../../contracts/decision-record.js';
import { fail, ok, type Result } from '../../contracts/problem.js';

export interface Flow {
  name: string;
  from: string;
  to: string;
  method: string;
  path: string;
  host?: string;
  port?: number;
  /** A list is a header sent once per element, in order. */
  headers?: Record<string, string | string[]>;
  claims?: Record<string, unknown>;
  expect?: Outcome;
}

const EXPECT: readonly Outcome[] = ['allow', 'deny', 'would-deny'];

export function parseFlows(text: string): Result<Flow[]> {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    return fail('', (e as Error).message.split('\n')[0] as string);
  }
  const flows = (doc as { flows?: unknown })?.flows;
  if (!Array.isArray(flows)) return fail('', 'expected a top-level "flows:" list');
  const out: Flow[] = [];
  for (const [i, f] of (flows as Record<string, unknown>[]).entries()) {
    for (const k of ['from', 'to', 'method', 'path']) if (typeof f?.[k] !== 'string') return fail(`flows[${i}].${k}`, 'must be a string');
    if (f.expect !== undefined && !EXPECT.includes(f.expect as Outcome))
      return fail(`flows[${i}].expect`, 'must be allow, deny or would-deny');
    out.push({ name: typeof f.name === 'string' ? f.name : `flow ${i + 1}`, ...f } as Flow);
  }
  return ok(out);
}
