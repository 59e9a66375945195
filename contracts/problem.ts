/**
 * What went wrong, as a value, at every layer below the CLI: where (a field path such as
 * `rules[3].to.paths[0]`, empty for the whole input), what, and what to do about it. Values are
 * collected, never thrown, until the edge that must report them turns them into a message, a
 * NACK's error_detail, a log line or an exit code.
 */
export interface Problem {
  path: string;
  message: string;
  hint?: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

export function problem(path: string, message: string, hint?: string): Problem {
  return hint === undefined ? { path, message } : { path, message, hint };
}

export function fail<T>(path: string, message: string, hint?: string): Result<T> {
  return { ok: false, problems: [problem(path, message, hint)] };
}

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

/** `rules[3].to.paths[0]: message` (and the hint after it), the way every edge prints one. */
export function problemText(p: Problem): string {
  const head = p.path ? `${p.path}: ${p.message}` : p.message;
  return p.hint ? `${head} (${p.hint})` : head;
}

/** Every problem of a failed result, as one line. */
export function reasonOf(r: { ok: false; problems: readonly Problem[] }): string {
  return r.problems.map(problemText).join('; ');
}
