/** `perimeter ca init` and `perimeter ca issue`: the mesh CA and X.509-SVIDs under the state directory. */
import { join } from 'node:path';
import { CaError, initCa, issueSvid, loadCa, writeSvid } from '../control/ca/ca.js';
import { UsageError } from './targets.js';

function duration(text: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(text);
  if (!m) throw new UsageError(`--ttl ${text}: use a number with s, m, h or d (e.g. 24h)`);
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

export async function runCaInit(opts: { state: string; trustDomain: string; force?: boolean; validityDays?: string }): Promise<number> {
  try {
    const ca = await initCa(opts.state, opts.trustDomain, { force: Boolean(opts.force), validityDays: Number(opts.validityDays ?? 365) });
    process.stdout.write(`mesh CA for trust domain ${ca.trustDomain} written to ${ca.dir}/ (ca.crt.pem, ca.key.pem mode 0600)\n`);
    return 0;
  } catch (e) {
    if (e instanceof CaError) throw new UsageError(e.message);
    throw e;
  }
}

export async function runCaIssue(opts: {
  state: string;
  identity: string;
  ttl?: string;
  out?: string;
  name?: string;
  dns?: string[];
  json?: boolean;
}): Promise<number> {
  try {
    const ca = loadCa(opts.state);
    const svid = await issueSvid(ca, opts.identity, { ttlMs: duration(opts.ttl ?? '24h'), dnsNames: opts.dns ?? [] });
    const name = opts.name ?? opts.identity.split('/').filter(Boolean).slice(-1)[0] ?? 'svid';
    const files = writeSvid(opts.out ?? join(opts.state, 'svids'), name, svid);
    if (opts.json)
      process.stdout.write(`${JSON.stringify({ identity: svid.identity, notAfter: svid.notAfter.toISOString(), ...files }, null, 2)}\n`);
    else
      process.stdout.write(
        `X.509-SVID for ${svid.identity}, valid until ${svid.notAfter.toISOString()}\n  ${files.cert}\n  ${files.key} (mode 0600)\n`,
      );
    return 0;
  } catch (e) {
    if (e instanceof CaError) throw new UsageError(e.message);
    throw e;
  }
}
