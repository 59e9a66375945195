/**
 * How CLI commands reach the running control server: its admin endpoint, found through
 * `<state>/server.json`; changes carry the operator token, from PERIMETER_ADMIN_TOKEN or the
 * file the server named there.
 */
import { readFileSync } from 'node:fs';
import { readServerFile, type ServerFile, serverFilePath } from '../../control/serve/server-file.js';
import { UsageError } from './targets.js';

export function serverFile(state: string): ServerFile {
  const f = readServerFile(state);
  if (!f) throw new UsageError(`no control server is running with --state ${state} (${serverFilePath(state)} is missing)`);
  if (!f.admin) throw new UsageError('the control server runs without an admin endpoint (--admin off)');
  return f;
}

/** The operator token for changes. */
export function adminToken(f: ServerFile): string {
  const env = process.env.PERIMETER_ADMIN_TOKEN;
  if (env) return env;
  if (!f.tokenFile) throw new UsageError('the control server named no admin token file; set PERIMETER_ADMIN_TOKEN');
  try {
    return readFileSync(f.tokenFile, 'utf8').trim();
  } catch (e) {
    throw new UsageError(
      `cannot read the admin token ${f.tokenFile} (${(e as NodeJS.ErrnoException).code}): run this as the operator who started the server, or set PERIMETER_ADMIN_TOKEN`,
    );
  }
}

/** A change: a JSON POST to the admin endpoint, with the operator token. */
export function adminPost(state: string, path: string, body: unknown): Promise<unknown> {
  const token = adminToken(serverFile(state));
  return admin(state, path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
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
