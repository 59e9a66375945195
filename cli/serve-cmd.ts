/** `perimeter serve`: runs the control server until SIGINT or SIGTERM. */
import { BUILT_MODULE } from '../contracts/module.js';
import { readTokenFile } from '../control/serve/admin-guard.js';
import { ControlServer } from '../control/serve/control-server.js';
import { createLogger, type LogLevel } from '../control/serve/log.js';
import { UsageError } from './targets.js';

export interface ServeOptions {
  policy: string[];
  state: string;
  listen: string;
  admin: string | false;
  adminTokenFile?: string;
  adminHost?: string[];
  insecure?: boolean;
  debounce: string;
  resourceName: string;
  modulePath: string;
  wasm?: string;
  logLevel: string;
}

export async function runServe(o: ServeOptions): Promise<number> {
  const debounceMs = Number(o.debounce);
  if (!Number.isFinite(debounceMs) || debounceMs < 0) throw new UsageError(`--debounce ${o.debounce}: a number of milliseconds`);
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(o.logLevel))
    throw new UsageError(`--log-level ${o.logLevel}: debug, info, warn or error`);
  const log = createLogger(o.logLevel as LogLevel);
  let adminToken: string | undefined;
  if (o.adminTokenFile) {
    const t = readTokenFile(o.adminTokenFile);
    if ('error' in t) throw new UsageError(`--admin-token-file: ${t.error}`);
    adminToken = t.token;
  }
  for (const h of o.adminHost ?? [])
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/i.test(h)) throw new UsageError(`--admin-host ${h}: a DNS name`);
  let server: ControlServer;
  try {
    server = await ControlServer.start({
      policy: o.policy,
      state: o.state,
      listen: o.listen,
      admin: o.admin,
      ...(adminToken ? { adminToken, adminTokenFile: o.adminTokenFile } : {}),
      adminHosts: o.adminHost ?? [],
      insecure: Boolean(o.insecure),
      debounceMs,
      resourceName: o.resourceName,
      modulePath: o.modulePath,
      moduleFile: o.wasm ?? BUILT_MODULE,
      log,
    });
  } catch (e) {
    log.error({ err: (e as Error).message }, 'control server failed to start');
    throw new UsageError((e as Error).message);
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      void server.stop().then(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}
