/**
 * Watches policy files and directories and calls back once a burst of changes has gone quiet
 * (`debounceMs`, Istio's PILOT_DEBOUNCE_AFTER is 100 ms), or after `maxWaitMs` of continuous
 * change at the latest, so a busy directory still gets published.
 */
import { type FSWatcher, statSync, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

export interface WatchOptions {
  debounceMs: number;
  maxWaitMs?: number;
  onError?: (e: Error) => void;
}

const relevant = (name: string | null) => name === null || /\.ya?ml$/.test(name) || !/\.[^/]*$/.test(basename(name));

export function watchPaths(paths: readonly string[], opts: WatchOptions, onChange: () => void): () => void {
  const watchers: FSWatcher[] = [];
  let quiet: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;
  const fire = () => {
    clearTimeout(quiet);
    clearTimeout(deadline);
    quiet = deadline = undefined;
    onChange();
  };
  const poke = () => {
    clearTimeout(quiet);
    quiet = setTimeout(fire, opts.debounceMs);
    deadline ??= setTimeout(fire, opts.maxWaitMs ?? 10_000);
  };
  for (const p of paths) {
    const full = resolve(p);
    const isDir = statSync(full).isDirectory();
    // A single file is watched through its directory: editors replace files by rename.
    const w = watch(isDir ? full : dirname(full), { recursive: isDir }, (_event, name) => {
      if (isDir ? relevant(name) : name === basename(full)) poke();
    });
    w.on('error', (e) => opts.onError?.(e));
    watchers.push(w);
  }
  return () => {
    clearTimeout(quiet);
    clearTimeout(deadline);
    for (const w of watchers) w.close();
  };
}
