/**
 * The control server's own identity: the mesh CA (created on first start, as istiod does) and
 * the server's SVID, short-lived like every other, renewed at half its lifetime without a restart.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CONTROL_SERVER_NAME, controlIdentity } from '../../contracts/control-identity.js';
import { type CaFiles, caDir, initCa, issueSvid, loadCa } from '../ca/ca.js';
import type { Logger, ServerTls } from '../xds/server-options.js';

const DAY_MS = 24 * 3_600_000;

export class ServerIdentity {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    readonly ca: CaFiles,
    private readonly ttlMs: number,
    private readonly log: Logger,
  ) {}

  /** Loads the mesh CA of `state`, or creates one for `trustDomain` when there is none. */
  static async open(state: string, trustDomain: string | undefined, log: Logger, ttlMs = DAY_MS): Promise<ServerIdentity> {
    let ca: CaFiles;
    if (existsSync(join(caDir(state), 'ca.key.pem'))) ca = loadCa(state);
    else {
      if (!trustDomain) throw new Error('no mesh CA and no valid policy to take the trust domain from: run perimeter ca init');
      ca = await initCa(state, trustDomain);
      log.warn({ dir: ca.dir, trustDomain: ca.trustDomain }, 'created a new mesh CA');
    }
    return new ServerIdentity(ca, ttlMs, log);
  }

  private svid() {
    return issueSvid(this.ca, controlIdentity(this.ca.trustDomain), { ttlMs: this.ttlMs, dnsNames: ['localhost', CONTROL_SERVER_NAME] });
  }

  async tls(): Promise<ServerTls> {
    const svid = await this.svid();
    return { caPem: this.ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem, trustDomain: this.ca.trustDomain };
  }

  /** Renews the SVID at half its lifetime and hands each new one to `rotate`; a failure retries within a minute. */
  renewEvery(rotate: (certPem: string, keyPem: string) => void, delayMs = this.ttlMs / 2): void {
    this.timer = setTimeout(() => {
      this.svid().then(
        (svid) => {
          rotate(svid.chainPem, svid.keyPem);
          this.log.info({ notAfter: svid.notAfter.toISOString() }, 'control server SVID renewed');
          this.renewEvery(rotate);
        },
        (e: Error) => {
          this.log.error({ err: e.message }, 'control server SVID renewal failed; retrying in a minute');
          this.renewEvery(rotate, Math.min(60_000, delayMs));
        },
      );
    }, delayMs);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
