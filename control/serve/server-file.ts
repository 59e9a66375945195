/** `<state>/server.json`: how CLI commands on the same host find a running control server. */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic.js';

/**
 * The shared store a replica serves from, as its flags named it (file paths, never a secret):
 * commands run with the replica's --state read versions from the store the replica reads.
 */
export interface StoreRef {
  url: string;
  prefix: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
}

/** Written to `<state>/server.json` while serving, so CLI commands can find the admin endpoint. */
export interface ServerFile {
  pid: number;
  xds: string;
  admin: string | undefined;
  /** Where the operator token for the admin endpoint's changes is (absent: no admin endpoint). */
  tokenFile?: string;
  /** Set for a replica on a shared store (control/ha). */
  store?: StoreRef;
  startedAt: string;
}

export function serverFilePath(state: string): string {
  return join(state, 'server.json');
}

export function writeServerFile(state: string, file: ServerFile): void {
  writeFileAtomic(serverFilePath(state), `${JSON.stringify(file, null, 2)}\n`);
}

/** The server file in `state`, or undefined when there is none or it does not parse. */
export function readServerFile(state: string): ServerFile | undefined {
  try {
    return JSON.parse(readFileSync(serverFilePath(state), 'utf8')) as ServerFile;
  } catch {
    return undefined;
  }
}

/** Removes the file if this process wrote it (a newer server may have taken the state directory); true if it did. */
export function removeServerFile(state: string): boolean {
  const f = readServerFile(state);
  if (f?.pid !== process.pid) return false; // already gone, or a newer server's
  rmSync(serverFilePath(state), { force: true });
  return true;
}
