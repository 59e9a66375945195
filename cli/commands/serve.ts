/** `perimeter serve`: runs the control server until SIGINT or SIGTERM. */

import { hostname } from 'node:os';
import { RESOURCE_NAME } from '../../contracts/ecds.js';
import { BUILT_MODULE, DEFAULT_MODULE_PATH } from '../../contracts/module.js';
import { SharedSource } from '../../control/ha/shared-source.js';
import { readTokenFile } from '../../control/serve/admin-guard.js';
import { ControlServer } from '../../control/serve/control-server.js';
import { createLogger, type LogLevel } from '../../control/serve/log.js';
import type { SourceParts } from '../../control/serve/source.js';
import { DEFAULT_STREAMS_PER_IDENTITY } from '../../control/xds/server-options.js';
import { DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { caSecret, openStore, STORE_FLAGS, storeName, storeRef } from '../support/store.js';
import { UsageError } from '../support/targets.js';

const FLAGS = {
  policy: flag.list('--policy <path>', 'policy file or directory (repeatable); with --store, optional: a replica without it only serves'),
  state: flag.withDefault('--state <dir>', 'state directory: CA, history, server.json', DEFAULT_STATE),
  listen: flag.withDefault('--listen <host:port>', 'xDS (gRPC) listener', '127.0.0.1:18000'),
  admin: flag.switchable(
    '--admin <host:port>',
    'admin endpoint: /metrics, /status, /versions, /rollback',
    '127.0.0.1:18001',
    '--no-admin',
    'no admin endpoint',
  ),
  adminTokenFile: flag.string(
    '--admin-token-file <file>',
    'the operator token changes need (default: a new one in <state>/admin.token, mode 0600)',
  ),
  adminHost: flag.list('--admin-host <name>', 'a host name the admin endpoint answers to, besides IP addresses and localhost (repeatable)'),
  insecure: flag.bool('--insecure', 'plaintext xDS, trusting node.id as the identity (local development only)'),
  debounce: flag.withDefault('--debounce <ms>', 'quiet time before a policy change is compiled', '100'),
  resourceName: flag.withDefault('--resource-name <name>', 'ECDS resource name (the HttpFilter name in the sidecar)', RESOURCE_NAME),
  modulePath: flag.withDefault('--module-path <path>', 'where sidecars find perimeter.wasm', DEFAULT_MODULE_PATH),
  wasm: flag.string('--wasm <file>', 'the module sidecars run (its sha256 names the VM); default filter/build/perimeter.wasm'),
  maxStreamsPerIdentity: flag.withDefault(
    '--max-streams-per-identity <n>',
    'open xDS streams one workload identity may hold: every pod of a Deployment shares its SVID, one stolen SVID cannot take more',
    String(DEFAULT_STREAMS_PER_IDENTITY),
  ),
  logLevel: flag.withDefault('--log-level <level>', 'debug, info, warn, error', 'info'),
  ...STORE_FLAGS,
  replicaId: flag.string(
    '--replica-id <name>',
    'with --store: this replica’s name in the election and in status (default: host name and pid)',
  ),
  lease: flag.withDefault(
    '--lease <seconds>',
    'with --store: the leader’s and the registration’s lease; a dead replica is replaced within it',
    '3',
  ),
  caKeyFile: flag.string('--ca-key-file <file>', 'with --store: the secret that seals the mesh CA key in the store (or PERIMETER_CA_KEY)'),
};

export const serveCommand = defineCommand({
  path: ['serve'],
  description: 'run the xDS control server: compile the policy, watch it, stream each sidecar its own policy',
  flags: FLAGS,
  run: runServe,
});

async function runServe(o: OptionsOf<typeof FLAGS>): Promise<number> {
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
  const policy = o.policy ?? [];
  if (!o.store && policy.length === 0) throw new UsageError('--policy is required (or --store, for a replica that only serves)');
  const maxStreamsPerIdentity = Number(o.maxStreamsPerIdentity);
  if (!Number.isInteger(maxStreamsPerIdentity) || maxStreamsPerIdentity < 1 || maxStreamsPerIdentity > 1_000_000)
    throw new UsageError(`--max-streams-per-identity ${o.maxStreamsPerIdentity}: a whole number from 1 to 1000000`);
  const lease = Number(o.lease);
  if (!Number.isInteger(lease) || lease < 2 || lease > 300) throw new UsageError(`--lease ${o.lease}: whole seconds from 2 to 300`);
  const store = o.store ? openStore({ ...o, store: o.store }) : undefined;
  const secret = store ? caSecret(o.caKeyFile) : undefined;
  const id = o.replicaId ?? `${hostname()}-${process.pid}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(id)) throw new UsageError(`--replica-id ${id}: letters, digits, . _ - (up to 63)`);
  let server: ControlServer;
  try {
    server = await ControlServer.start({
      policy,
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
      maxStreamsPerIdentity,
      log,
      ...(store
        ? {
            storeRef: storeRef({ ...o, store: o.store as string }),
            watch: policy.length > 0,
            source: (parts: SourceParts) =>
              new SharedSource(parts, {
                store,
                storeName: storeName(o),
                id,
                leaseSeconds: lease,
                compiles: policy.length > 0,
                caSecret: secret,
                log,
              }),
          }
        : {}),
    });
  } catch (e) {
    store?.close();
    log.error({ err: (e as Error).message }, 'control server failed to start');
    throw new UsageError((e as Error).message);
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      void server.stop().then(() => {
        store?.close();
        // The etcd client can keep a reconnect timer after close; nothing is left to do, so do not wait for it.
        if (store) setTimeout(() => process.exit(0), 1_000).unref();
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}
