/** `perimeter ca issue`: an X.509-SVID from the mesh CA under the state directory. */
import { join } from 'node:path';
import { problemText, reasonOf } from '../../contracts/problem.js';
import { findCa, issueSvid, svidProblem, writeSvid } from '../../control/ca/ca.js';
import { DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { UsageError } from '../support/targets.js';
import { duration } from '../support/time.js';

const FLAGS = {
  state: flag.withDefault('--state <dir>', 'state directory holding the CA', DEFAULT_STATE),
  identity: flag.required('--identity <spiffe-id>', 'spiffe://<trust-domain>/ns/<ns>/sa/<sa>'),
  ttl: flag.withDefault('--ttl <duration>', 'lifetime, e.g. 1h, 24h, 7d', '24h'),
  out: flag.string('--out <dir>', 'where to write <name>.crt.pem and <name>.key.pem (default <state>/svids)'),
  name: flag.string('--name <name>', 'file name (default: the last path segment of the identity)'),
  dns: flag.list('--dns <name>', 'also a DNS SAN (repeatable)'),
  json: flag.bool('--json', 'machine-readable output'),
};

export const caIssueCommand = defineCommand({
  path: ['ca', 'issue'],
  description: 'issue an X.509-SVID for a SPIFFE ID of the trust domain',
  flags: FLAGS,
  run: runCaIssue,
});

async function runCaIssue(opts: OptionsOf<typeof FLAGS>): Promise<number> {
  {
    const found = findCa(opts.state);
    if (!found.ok) throw new UsageError(reasonOf(found));
    const ca = found.value;
    const ttlMs = duration('--ttl', opts.ttl ?? '24h');
    const refused = svidProblem(ca, opts.identity, ttlMs);
    if (refused) throw new UsageError(problemText(refused));
    const svid = await issueSvid(ca, opts.identity, { ttlMs, dnsNames: opts.dns ?? [] });
    const name = opts.name ?? opts.identity.split('/').filter(Boolean).slice(-1)[0] ?? 'svid';
    const files = writeSvid(opts.out ?? join(opts.state, 'svids'), name, svid);
    if (opts.json)
      process.stdout.write(`${JSON.stringify({ identity: svid.identity, notAfter: svid.notAfter.toISOString(), ...files }, null, 2)}\n`);
    else
      process.stdout.write(
        `X.509-SVID for ${svid.identity}, valid until ${svid.notAfter.toISOString()}\n  ${files.cert}\n  ${files.key} (mode 0600)\n`,
      );
    return 0;
  }
}
