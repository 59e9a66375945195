/**
 * The control server's own identity: an SVID from the mesh CA (its version source keeps the CA), short-lived like every other, renewed at half its lifetime without a restart.
 */
import { CONTROL_SERVER_NAME, controlIdentity } from '../../contracts/control-identity.js';
import { type CaFiles, issueSvid } from '../ca/ca.js';
import type { Logger, ServerTls } from '../xds/server-options.js';

const DAY_MS = 24 * 3_600_000;

export class ServerIdentity {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly ca: CaFiles,
    private readonly log: Logger,
    private readonly ttlMs = DAY_MS,
  ) {}

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
