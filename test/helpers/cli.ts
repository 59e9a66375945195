/** The `perimeter` command run as its own process, without blocking this one (a server in this process must keep answering). */
import { execFile } from 'node:child_process';

export function perimeterCli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/perimeter.js', ...args], { env: { ...process.env, NO_COLOR: '1' } }, (e, out, err) =>
      resolve({ code: e ? Number(e.code ?? 1) : 0, out, err }),
    );
  });
}
