/**
 * The control server's admin endpoint (loopback by default): Prometheus `/metrics`, `/status`
 * and `/versions` as JSON, `/healthz`, `POST /rollback` for `perimeter rollback`, and
 * `GET|POST /quarantine`, `POST /release` for `perimeter quarantine` and `release`, and the
 * web page `/ui` with its data `/ui/state.json`. Who may ask is admin-guard.ts's to say.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UI_PAGE } from '../ui/page.js';
import { admit, type GuardOptions } from './admin-guard.js';

export interface AdminHandlers {
  metrics(): Promise<string>;
  metricsContentType: string;
  status(): unknown;
  versions(): unknown;
  healthy(): boolean;
  rollback(to: string): unknown;
  quarantined(): unknown;
  quarantine(identity: string, both: boolean, reason: string): unknown;
  release(identity: string): unknown;
  /** The web page's data (`/ui/state.json`). */
  ui(): unknown;
}

export class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** On every answer: never sniffed, never cached, never framed. */
const COMMON = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/** The page may run its own script and nothing else, fetch only from here, and be framed by nobody. */
function pageSecurityPolicy(page: string): string {
  const script = /<script>([\s\S]*?)<\/script>/.exec(page)?.[1] ?? '';
  const hash = createHash('sha256').update(script).digest('base64');
  return [
    "default-src 'none'",
    `script-src 'sha256-${hash}'`,
    "style-src 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
const PAGE_CSP = pageSecurityPolicy(UI_PAGE);

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...COMMON, 'content-type': 'application/json', ...headers });
  res.end(`${JSON.stringify(body, null, 2)}\n`);
}

async function body(req: IncomingMessage, limit = 64 * 1024): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new AdminError(413, 'request body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A JSON object body; `usage` is what the error says the body must be. */
async function jsonBody(req: IncomingMessage, usage: string): Promise<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(await body(req));
  } catch {
    throw new AdminError(400, `body must be JSON ${usage}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new AdminError(400, `body must be JSON ${usage}`);
  return v as Record<string, unknown>;
}

function stringField(o: Record<string, unknown>, key: string, usage: string): string {
  const v = o[key];
  if (typeof v !== 'string' || !v) throw new AdminError(400, `body must be JSON ${usage}`);
  return v;
}

export async function startAdmin(address: string, h: AdminHandlers, guard: GuardOptions): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://admin');
      try {
        const verdict = admit(req.method ?? '', req.headers, guard);
        if (!verdict.ok) {
          req.resume();
          json(res, verdict.status, { error: verdict.error }, verdict.headers);
          return;
        }
        if (req.method === 'GET' && url.pathname === '/metrics') {
          res.writeHead(200, { ...COMMON, 'content-type': h.metricsContentType });
          res.end(await h.metrics());
        } else if (req.method === 'GET' && url.pathname === '/status') json(res, 200, await h.status());
        else if (req.method === 'GET' && url.pathname === '/versions') json(res, 200, await h.versions());
        else if (req.method === 'GET' && url.pathname === '/healthz') {
          const ok = h.healthy();
          res.writeHead(ok ? 200 : 503, { ...COMMON, 'content-type': 'text/plain' });
          res.end(ok ? 'ok\n' : 'no snapshot yet\n');
        } else if (req.method === 'POST' && url.pathname === '/rollback') {
          const usage = '{"to": "<version>"}';
          json(res, 200, await h.rollback(stringField(await jsonBody(req, usage), 'to', usage)));
        } else if (req.method === 'GET' && (url.pathname === '/ui' || url.pathname === '/ui/' || url.pathname === '/')) {
          res.writeHead(200, { ...COMMON, 'content-type': 'text/html; charset=utf-8', 'content-security-policy': PAGE_CSP });
          res.end(UI_PAGE);
        } else if (req.method === 'GET' && url.pathname === '/ui/state.json') json(res, 200, h.ui());
        else if (req.method === 'GET' && url.pathname === '/quarantine') json(res, 200, h.quarantined());
        else if (req.method === 'POST' && url.pathname === '/quarantine') {
          const usage = '{"identity": "spiffe://…", "both": false, "reason": "…"}';
          const o = await jsonBody(req, usage);
          json(
            res,
            200,
            await h.quarantine(stringField(o, 'identity', usage), o.both === true, typeof o.reason === 'string' ? o.reason : ''),
          );
        } else if (req.method === 'POST' && url.pathname === '/release') {
          const usage = '{"identity": "spiffe://…"}';
          json(res, 200, await h.release(stringField(await jsonBody(req, usage), 'identity', usage)));
        } else json(res, 404, { error: `no ${req.method} ${url.pathname}; try /status, /versions, /metrics, /healthz, /quarantine, /ui` });
      } catch (e) {
        json(res, e instanceof AdminError ? e.status : 500, { error: (e as Error).message });
      }
    })();
  });
  const { host, port } = splitAddress(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}

export function splitAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  if (!m) throw new AdminError(400, `${address}: expected host:port`);
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port: Number(m[3]) };
}
