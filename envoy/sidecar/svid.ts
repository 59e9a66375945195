/**
 * The sidecar's X.509-SVID and its renewal. An SVID is short-lived, so the sidecar asks for a
 * new one before the one it has expires (at half its lifetime, as SPIRE's agents do, and
 * again after a failure, with backoff) and hands it to everything that opens connections; a
 * connection already open keeps the certificate it was made with, so nothing is dropped.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { uriSans } from '../../contracts/svid.js';

export interface TlsMaterial {
  caPem: string;
  /** The SVID then any intermediates. */
  certPem: string;
  keyPem: string;
}

/** Where renewed SVIDs come from: the mesh CA, files an agent rewrites, … */
export type SvidSource = () => Promise<TlsMaterial>;

type SvidFacts = { identity: string | undefined; notBefore: number; notAfter: number; serial: string };

/** Validity of an SVID's leaf certificate, and the SPIFFE ID it carries. */
export function svidFacts(tls: TlsMaterial): SvidFacts {
  return factsOf(new X509Certificate(tls.certPem));
}

function factsOf(cert: X509Certificate): SvidFacts {
  return {
    identity: uriSans({ subjectaltname: cert.subjectAltName } as PeerCertificate)[0],
    notBefore: Date.parse(cert.validFrom),
    notAfter: Date.parse(cert.validTo),
    serial: cert.serialNumber,
  };
}

/** Why `tls` cannot replace the SVID of `identity`, or undefined when it can. */
export function renewalProblem(tls: TlsMaterial, identity: string, now = Date.now()): string | undefined {
  let facts: SvidFacts;
  try {
    const cert = new X509Certificate(tls.certPem);
    facts = factsOf(cert);
    if (!cert.checkPrivateKey(createPrivateKey(tls.keyPem))) return 'the private key does not match the certificate';
  } catch (e) {
    return `not a certificate and key: ${(e as Error).message}`;
  }
  if (facts.identity !== identity) return `the certificate is for ${facts.identity ?? 'no SPIFFE ID'}, not ${identity}`;
  if (facts.notAfter <= now) return 'the certificate has expired';
  return undefined;
}

export interface RenewerEvents {
  renewed(tls: TlsMaterial): void;
  failed(message: string): void;
}

/**
 * Renews an SVID before it expires: at half its lifetime, then again at half of what is left
 * after a failure, or when the source had nothing newer (never sooner than a second apart),
 * until stopped.
 */
export class SvidRenewer {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  current: TlsMaterial;

  constructor(
    initial: TlsMaterial,
    private readonly identity: string,
    private readonly source: SvidSource,
    private readonly events: RenewerEvents,
    private readonly now: () => number = Date.now,
  ) {
    this.current = initial;
    this.schedule();
  }

  /** When the next renewal is due: half of the current SVID's lifetime, or half of what is left of it. */
  private dueIn(): number {
    const { notBefore, notAfter } = svidFacts(this.current);
    const now = this.now();
    const half = notBefore + (notAfter - notBefore) / 2;
    return Math.max(1_000, half > now ? half - now : (notAfter - now) / 2);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.renew(), this.dueIn());
    this.timer.unref();
  }

  /** Renews now (also what the timer does). */
  async renew(): Promise<void> {
    try {
      const next = await this.source();
      const problem = renewalProblem(next, this.identity, this.now());
      if (problem) throw new Error(problem);
      // A source that has nothing newer yet (files an agent has not rewritten): asked again later.
      if (this.stopped || svidFacts(next).serial === svidFacts(this.current).serial) return;
      this.current = next;
      this.events.renewed(next);
    } catch (e) {
      this.events.failed((e as Error).message);
    } finally {
      clearTimeout(this.timer);
      this.schedule();
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
