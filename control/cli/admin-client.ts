/** How CLI commands reach the running control server: its admin endpoint, found through `<state>/server.json`. */
import { existsSync, readFileSync } from 'node:fs';
import type { ServerFile } from '../serve/control-server.js';
import { serverFilePath } from '../serve/control-server.js';
import { UsageError } from './targets.js';

export function serverFile(state: string): ServerFile {
  const p = serverFilePath(state);
  if (!existsSync(p)) throw new UsageError(`no control server is running with --state ${state} (${p} is missing)`);
  const f = JSON.parse(readFileSync(p, 'utf8')) as ServerFile;
  if (!f.admin) throw new UsageError('the control server runs without an admin endpoint (--admin off)');
  return f;
}

/** A JSON POST to the admin endpoint. */
export function adminPost(state: string, path: string, body: unknown): Promise<unknown> {
  return admin(state, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

export async function admin(state: string, path: string, init?: RequestInit): Promise<unknown> {
  const f = serverFile(state);
  let res: Response;
  try {
    res = await fetch(`http://${f.admin}${path}`, init);
  } catch (e) {
    throw new UsageError(`cannot reach the control server at ${f.admin} (pid ${f.pid}): ${(e as Error).cause ?? (e as Error).message}`);
  }
  const body = (await res.json()) as { error?: string };
  if (!res.ok) throw new UsageError(body.error ?? `HTTP ${res.status}`);
  return body;
}
