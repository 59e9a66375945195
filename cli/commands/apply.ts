/**
 * `perimeter apply`: the GitOps path. Validates and compiles a policy directory and publishes it
 * to the shared store without any server running; every replica then serves it. Invalid is
 * refused whole (nothing is written); `--expect-version` refuses if the current version moved
 * since it was reviewed, so two pipelines never overwrite each other's change unknowingly.
 */
import { reasonOf } from '../../contracts/problem.js';
import { StoreWriter } from '../../control/ha/store-writer.js';
import { defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { loadAndCompileWithSources } from '../support/load-policy.js';
import { paint } from '../support/output.js';
import { STORE_FLAGS, storeName, withStore } from '../support/store.js';
import { UsageError } from '../support/targets.js';

/** Exit code when --expect-version no longer names the current version. */
export const EXIT_MOVED = 4;

const FLAGS = {
  policy: flag.requiredList('--policy <path>', 'policy file or directory (repeatable)'),
  expectVersion: flag.string(
    '--expect-version <V>',
    'refuse unless the current version is V (#seq, a digest prefix, or #0 for an empty store)',
  ),
  json: flag.bool('--json', 'machine-readable output'),
  ...STORE_FLAGS,
};

export const applyCommand = defineCommand({
  path: ['apply'],
  description:
    'validate, compile and publish a policy to the shared store (--store), without a server; refused whole when invalid (exit 1), or when --expect-version moved (exit 4)',
  flags: FLAGS,
  run: runApply,
});

async function runApply(o: OptionsOf<typeof FLAGS>): Promise<number> {
  if (!o.store) throw new UsageError('--store etcd://host:port,… is needed: apply publishes to the replicas’ shared store');
  const set = loadAndCompileWithSources(o.policy, 'nothing was published');
  const r = await withStore(o, (s) =>
    new StoreWriter(s).publishPolicy(set, o.expectVersion !== undefined ? { expect: o.expectVersion } : {}),
  );
  if (!r.ok) {
    process.stderr.write(`perimeter: ${reasonOf(r)}\n`);
    if (o.json) process.stdout.write(`${JSON.stringify({ published: false, error: reasonOf(r) }, null, 2)}\n`);
    return o.expectVersion !== undefined ? EXIT_MOVED : 1;
  }
  const { entry, changed } = r.value;
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({ published: changed, store: storeName(o), seq: entry.seq, version: entry.version, summary: entry.summary }, null, 2)}\n`,
    );
    return 0;
  }
  process.stdout.write(
    changed
      ? `${paint('published', 'green')} #${entry.seq} ${entry.version} to ${storeName(o)}\n${entry.summary.map((l) => `  ${l}\n`).join('')}`
      : `unchanged: ${storeName(o)} already holds this policy (#${entry.seq} ${entry.version})\n`,
  );
  return 0;
}
