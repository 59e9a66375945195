/**
 * Who may talk to the admin endpoint. Every request: its `Host` must name this server (an IP
 * literal, `localhost`, or a name the operator listed), so a DNS-rebinding page cannot read
 * /status or /ui/state.json. Every mutation besides: the operator token as a bearer credential,
 * `Content-Type: application/json` (a browser cannot send that cross-origin without asking
 * first, and nobody answers the preflight), and no foreign `Origin` or `Sec-Fetch-Site`.
 *
 * The token is made when the server starts and written to `<state>/admin.token` (mode 0600): the
 * CLI, run by the same operator on the same state directory, reads it from there. An operator
 * can give one instead (`--admin-token-file`, e.g. a mounted Kubernetes Secret).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic.js';

export const TOKEN_FILE = 'admin.token';
export const MIN_TOKEN_LENGTH = 32;

export function tokenPath(state: string): string {
  return join(state, TOKEN_FILE);
}

/** A fresh token, written for the CLI to find; a new one at every start. */
export function createToken(state: string): string {
  const token = randomBytes(32).toString('hex');
  writeFileAtomic(tokenPath(state), `${token}\n`, 0o600);
  return token;
}

/** The operator's token from a file, or why it cannot be used. */
export function readTokenFile(file: string): { token: string } | { error: string } {
  let text: string;
  try {
    if ((statSync(file).mode & 0o002) !== 0) return { error: `${file} is writable by anyone: refusing it as the admin token` };
    text = readFileSync(file, 'utf8').trim();
  } catch (e) {
    return { error: `${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  if (text.length < MIN_TOKEN_LENGTH || /\s/.test(text))
    return { error: `${file}: an admin token is at least ${MIN_TOKEN_LENGTH} characters without spaces (openssl rand -hex 32)` };
  return { token: text };
}

export interface GuardOptions {
  token: string;
  /** Host names besides IP literals and localhost that reach this server (a Service name, say). */
  hosts: readonly string[];
}

export type Verdict = { ok: true } | { ok: false; status: number; error: string; headers?: Record<string, string> };

const OK: Verdict = { ok: true };

/** The host part of a Host header (`[::1]:18001` → `::1`), lower-cased; undefined if malformed. */
export function hostName(header: string | undefined): string | undefined {
  if (!header || header.length > 255) return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s/]+))(?::(\d{1,5}))?$/.exec(header);
  if (!m) return undefined;
  return (m[1] ?? m[2] ?? '').toLowerCase();
}

export function hostAllowed(header: string | undefined, o: Pick<GuardOptions, 'hosts'>): boolean {
  const name = hostName(header);
  if (name === undefined) return false;
  if (isIP(name) !== 0 || name === 'localhost') return true;
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  return o.hosts.some((h) => h.toLowerCase() === bare);
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether a request may be served: reads need a good Host, mutations the rest too. */
export function admit(method: string, headers: IncomingHttpHeaders, o: GuardOptions): Verdict {
  if (!hostAllowed(headers.host, o))
    return {
      ok: false,
      status: 421,
      error: `Host ${JSON.stringify(headers.host ?? '')} does not name this server; use its address, localhost, or a name given with --admin-host`,
    };
  if (method === 'GET' || method === 'HEAD') return OK;
  const origin = headers.origin;
  if (origin !== undefined && origin !== `http://${headers.host}`)
    return { ok: false, status: 403, error: `cross-origin request from ${JSON.stringify(origin)} refused` };
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    return { ok: false, status: 403, error: `cross-site request (Sec-Fetch-Site: ${site}) refused` };
  const type = (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') return { ok: false, status: 415, error: 'a change must be sent as Content-Type: application/json' };
  const m = /^Bearer ([^\s]+)$/.exec(headers.authorization ?? '');
  if (!m || !sameToken(m[1] as string, o.token))
    return {
      ok: false,
      status: 401,
      error: 'a change needs the operator token: Authorization: Bearer <token> (the CLI reads it from <state>/admin.token)',
      headers: { 'www-authenticate': 'Bearer realm="perimeter-admin"' },
    };
  return OK;
}
