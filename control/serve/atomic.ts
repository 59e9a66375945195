/**
 * Crash-safe file writes: the data goes to a temporary file in the same directory, is fsynced,
 * then renamed over the target and the directory fsynced. A crash at any point leaves either
 * the old file or the new one, never a torn one; leftovers are named `*.tmp-<pid>`.
 */
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const TMP = /\.tmp-\d+$/;

export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  syncDir(dirname(path));
}

export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Removes temporary files a crashed writer left in `dir`; returns their names. */
export function removeLeftovers(dir: string): string[] {
  const left = readdirSync(dir).filter((n) => TMP.test(n));
  for (const n of left) rmSync(join(dir, n), { force: true });
  return left.map((n) => basename(n));
}
