/**
 * Watches policy files and directories and calls back once a burst of changes has gone quiet
 * (`debounceMs`, Istio's PILOT_DEBOUNCE_AFTER is 100 ms), or after `maxWaitMs` of continuous
 * change at the latest, so a busy directory still gets published.
 */
import { existsSync, type FSWatcher, readdirSync, statSync, watch } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export interface WatchOptions {
  debounceMs: number;
  maxWaitMs?: number;
  onError?: (e: Error) => void;
}

const relevant = (name: string | null) => name === null || /\.ya?ml$/.test(name) || !/\.[^/]*$/.test(basename(name));

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function dirsUnder(dir: string): string[] {
  const out = [dir];
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory() && !e.name.startsWith('.')) out.push(...dirsUnder(join(dir, e.name)));
  return out;
}

export function watchPaths(paths: readonly string[], opts: WatchOptions, onChange: () => void): () => void {
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
  const watchers = new Map<string, FSWatcher>();
  // Each directory is watched on its own: Node 20's recursive watch on Linux stops reporting a
  // file once it has been replaced by rename, which is how editors (and promote) save.
  const watchDir = (dir: string, accept: (name: string | null) => boolean) => {
    if (watchers.has(dir)) return;
    const w = watch(dir, (_event, name) => {
      if (name && !single.has(dir) && isDirectory(join(dir, name))) for (const d of dirsUnder(join(dir, name))) watchDir(d, relevant);
      if (accept(name)) poke();
    });
    w.on('error', (e) => {
      // A watched subdirectory that was removed is simply no longer watched.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && existsSync(dir)) opts.onError?.(e);
      w.close();
      watchers.delete(dir);
    });
    watchers.set(dir, w);
  };
  const single = new Set<string>();
  for (const p of paths) {
    const full = resolve(p);
    if (isDirectory(full)) for (const d of dirsUnder(full)) watchDir(d, relevant);
    else {
      // A single file is watched through its directory: editors replace files by rename.
      single.add(dirname(full));
      watchDir(dirname(full), (name) => name === basename(full));
    }
  }
  return () => {
    clearTimeout(quiet);
    clearTimeout(deadline);
    for (const w of watchers.values()) w.close();
  };
}
