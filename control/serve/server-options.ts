/** What a control server is started with, and the module it tells sidecars to run. */

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { ModuleRef } from '../../contracts/ecds.js';
import { DEFAULT_MODULE_PATH } from '../../contracts/module.js';
import type { Logger } from '../xds/server-options.js';
import type { StoreRef } from './server-file.js';
import type { SourceParts, VersionSource } from './source.js';

export interface ControlServerOptions {
  policy: readonly string[];
  state: string;
  /** host:port of the xDS listener (port 0: any free port). */
  listen: string;
  /** host:port of the admin endpoint, or false for none. */
  admin: string | false;
  /**
   * The operator token that changes need (admin-guard.ts); absent: a new one is made at start in
   * `<state>/admin.token`. `adminTokenFile` says where the CLI finds a given one.
   */
  adminToken?: string;
  adminTokenFile?: string;
  /** Host names (besides IP literals and localhost) the admin endpoint answers to. */
  adminHosts?: readonly string[];
  insecure: boolean;
  debounceMs?: number;
  watch?: boolean;
  resourceName?: string;
  /** The module sidecars load: its path there and the local file whose sha256 names the VM. */
  modulePath?: string;
  moduleFile: string;
  log: Logger;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** Open xDS streams one workload identity may hold (control/xds/server.ts has the default). */
  maxStreamsPerIdentity?: number;
  /** Lifetime of the control server's own SVID; it is renewed at half of it. Default 24 h. */
  svidTtlMs?: number;
  now?: () => number;
  /** Most flows kept in `<state>/flows` (the least recently seen go first). */
  maxFlows?: number;
  /** Where versions come from (absent: the state directory; control/ha: a shared store). */
  source?: (parts: SourceParts) => VersionSource;
  /** The shared store behind `source`, written to server.json for the CLI on this host. */
  storeRef?: StoreRef;
}

export function moduleRef(moduleFile: string, modulePath = DEFAULT_MODULE_PATH): ModuleRef {
  if (!existsSync(moduleFile)) throw new Error(`${moduleFile} does not exist: run npm run build`);
  return { filename: modulePath, sha256: createHash('sha256').update(readFileSync(moduleFile)).digest('hex') };
}
