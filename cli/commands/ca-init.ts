/** `perimeter ca init`: the mesh CA under the state directory. */
import { problemText } from '../../contracts/problem.js';
import { initCa, initCaProblem } from '../../control/ca/ca.js';
import { DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { UsageError } from '../support/targets.js';

const FLAGS = {
  state: flag.withDefault('--state <dir>', 'state directory', DEFAULT_STATE),
  trustDomain: flag.required('--trust-domain <td>', 'SPIFFE trust domain, e.g. shop.example'),
  validityDays: flag.withDefault('--validity-days <n>', 'CA lifetime in days', '365'),
  force: flag.bool('--force', 'replace an existing CA (every SVID it issued stops verifying)'),
};

export const caInitCommand = defineCommand({
  path: ['ca', 'init'],
  description: 'create the mesh CA under <state>/ca/',
  flags: FLAGS,
  run: runCaInit,
});

async function runCaInit(opts: OptionsOf<typeof FLAGS>): Promise<number> {
  const refused = initCaProblem(opts.state, opts.trustDomain, Boolean(opts.force));
  if (refused) throw new UsageError(problemText(refused));
  const ca = await initCa(opts.state, opts.trustDomain, { force: Boolean(opts.force), validityDays: Number(opts.validityDays ?? 365) });
  process.stdout.write(`mesh CA for trust domain ${ca.trustDomain} written to ${ca.dir}/ (ca.crt.pem, ca.key.pem mode 0600)\n`);
  return 0;
}
