/** The history under a state directory, for the commands that read it; its errors are usage errors. */
import { type Result, reasonOf } from '../../contracts/problem.js';
import { History, type HistoryEntry, HistoryError } from '../../control/serve/history.js';
import { UsageError } from './targets.js';

export function openHistory(state: string): History {
  const h = History.existing(state);
  if (!h || h.entries().length === 0)
    throw new UsageError(`no published versions under ${state}/history (has perimeter serve --state ${state} run?)`);
  return h;
}

/** The entry a command named, or a usage error saying why there is none. */
export function found(r: Result<HistoryEntry>): HistoryEntry {
  if (!r.ok) throw new UsageError(reasonOf(r));
  return r.value;
}

export function guard<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof HistoryError) throw new UsageError(e.message);
    throw e;
  }
}
