/** Loads and compiles a policy for a command, printing diagnostics to stderr on failure. */
import { type CompileResult, compile } from '../../control/compile/compile.js';
import { printable } from '../../control/flows/recorded.js';
import { formatDiagnostic, summarize } from '../../control/policy/diagnostics.js';
import { type LoadResult, loadPaths, readRegularFile } from '../../control/policy/load.js';
import { paint } from './output.js';

export class InputError extends Error {}

/** The loaded policy; on errors, prints them and throws (`what` says what was not done). */
export function loadPolicy(paths: readonly string[], what = 'nothing was evaluated'): LoadResult {
  const loaded = loadPaths(paths);
  if (!loaded.ok) {
    for (const d of loaded.diagnostics) printDiagnosticsTo(process.stderr, formatDiagnostic(d), d.severity);
    throw new InputError(`policy ${paths.join(' ')} has errors (${summarize(loaded.diagnostics)}); ${what}`);
  }
  return loaded;
}

export function loadAndCompile(paths: readonly string[]): CompileResult {
  return compile(loadPolicy(paths).policy);
}

/** The text of a file a command was given (a regular file, bounded), or an input error naming it. */
export function readInput(path: string): string {
  const r = readRegularFile(path);
  if ('error' in r) throw new InputError(`${path}: ${r.error}`);
  return r.text;
}

/** A diagnostic quotes what the file said: its control characters are shown, never sent to the terminal. */
export function printDiagnosticsTo(stream: NodeJS.WriteStream, text: string, severity: 'error' | 'warning'): void {
  const safe = text.split('\n').map(printable).join('\n');
  stream.write(`${safe.replace(/: (error|warning): /, (m) => paint(m, severity === 'error' ? 'red' : 'yellow', stream))}\n`);
}

/** The compiled set as a version source publishes it: each workload's bytes, and the sources for the history. */
export function loadAndCompileWithSources(paths: readonly string[], what: string) {
  const loaded = loadPolicy(paths, what);
  const c = compile(loaded.policy);
  return {
    version: c.version,
    workloads: c.workloads.map((w) => ({ name: w.workload.name, identity: w.workload.identity, version: w.version, bytes: w.bytes })),
    sources: (loaded.sources ?? []).map((f) => ({ path: f.name, text: f.text })),
  };
}
