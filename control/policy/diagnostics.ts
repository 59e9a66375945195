/**
 * Errors and warnings as values: each carries where it is (file:line:col), the field path
 * inside the resource (`rules[3].to.paths[0]`), what is wrong and what to do. They are
 * collected, never thrown, until the edge that reports them (CLI, server log, NACK).
 */
export type Severity = 'error' | 'warning';

export interface Diagnostic {
  severity: Severity;
  file: string;
  line: number;
  column: number;
  /** Resource and field, e.g. `Perimeter/db: rules[3].to.paths[0]`. */
  path: string;
  message: string;
  hint?: string;
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}

/** `file:line:col`, as compilers and editors read a place. */
export function locationText(l: { file: string; line: number; column: number }): string {
  return `${l.file}:${l.line}:${l.column}`;
}

/** One diagnostic per line, the way compilers print them, plus an indented hint. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = locationText(d);
  const head = `${where}: ${d.severity}: ${d.path ? `${d.path}: ` : ''}${d.message}`;
  return d.hint ? `${head}\n    hint: ${d.hint}` : head;
}

export function sortDiagnostics(diags: Diagnostic[]): Diagnostic[] {
  return diags.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column || a.message.localeCompare(b.message));
}

export function summarize(diags: readonly Diagnostic[]): string {
  const errors = diags.filter((d) => d.severity === 'error').length;
  const warnings = diags.length - errors;
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  return `${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
}
