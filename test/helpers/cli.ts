/** The `perimeter` command run as its own process, as a user runs it (no colour). */
import { execFile, spawnSync } from 'node:child_process';

/** Without blocking this one (a server in this process must keep answering). */
export function perimeterCli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/perimeter.js', ...args], { env: { ...process.env, NO_COLOR: '1' } }, (e, out, err) =>
      resolve({ code: e ? Number(e.code ?? 1) : 0, out, err }),
    );
  });
}

/** To its end, with how long it took (killed after a minute: a command that hangs fails its test). */
export function runCli(...args: string[]): { code: number | null; out: string; err: string; ms: number } {
  const started = Date.now();
  const r = spawnSync(process.execPath, ['bin/perimeter.js', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr, ms: Date.now() - started };
}
