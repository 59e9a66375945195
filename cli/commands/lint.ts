/**
 * `perimeter lint --policy DIR`: dead rules, selectors that match nothing, crown jewels left
 * open, expired exceptions and rollouts left in observe or simulate (control/analysis/lint.ts).
 * Exit codes: 0 no error-level finding, 4 some, 1 usage or input error.
 */
import { LINT_CODES, type LintFinding, lint } from '../../control/analysis/lint.js';
import { modeSince, type PublishedModes } from '../../control/analysis/rollout-age.js';
import { compile } from '../../control/compile/compile.js';
import { modeFromProto } from '../../control/compile/proto-adapter.js';
import { locationText } from '../../control/policy/diagnostics.js';
import { History } from '../../control/serve/history.js';
import { DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { loadPolicy } from '../support/load-policy.js';
import { cell, paint } from '../support/output.js';
import { printSarif, REPORT_FLAGS, reportFormat, sarifLog } from '../support/sarif.js';
import { duration, instant } from '../support/time.js';

export const LINT_EXIT = { clean: 0, input: 1, errors: 4 } as const;

const FLAGS = {
  policy: flag.required('--policy <dir>', 'policy directory'),
  state: flag.withDefault('--state <dir>', "state directory whose history dates each perimeter's mode", DEFAULT_STATE),
  soon: flag.withDefault('--soon <duration>', 'report exceptions that expire within this', '14d'),
  maxRollout: flag.withDefault('--max-rollout <duration>', 'report perimeters in observe or simulate for longer than this', '30d'),
  at: flag.string('--at <time>', 'lint as of this RFC 3339 time (default: now)'),
  ...REPORT_FLAGS,
};

export const lintCommand = defineCommand({
  path: ['lint'],
  description: 'dead rules, selectors that match nothing, open crown jewels, expired exceptions, long rollouts; exit 4 on errors',
  flags: FLAGS,
  run: runLint,
});

/** How many published versions are read to date the modes (newest first). */
const HISTORY_DEPTH = 200;

async function runLint(o: OptionsOf<typeof FLAGS>): Promise<number> {
  const nowMs = instant('--at', o.at);
  const loaded = loadPolicy([o.policy], 'nothing was linted');
  const history = publishedModes(o.state);
  const started = performance.now();
  const findings = await lint(loaded.policy, compile(loaded.policy), {
    nowMs,
    soonMs: duration('--soon', o.soon),
    maxRolloutMs: duration('--max-rollout', o.maxRollout),
    ...(history ? { modeSince: modeSince(history) } : {}),
  });
  const ms = performance.now() - started;
  const errors = findings.filter((f) => f.severity === 'error').length;
  const code = errors > 0 ? LINT_EXIT.errors : LINT_EXIT.clean;
  const format = reportFormat(o);
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify({ findings, rolloutAges: history !== undefined, ms: Math.round(ms) }, null, 2)}\n`);
    return code;
  }
  if (format === 'sarif') {
    const rules = Object.entries(LINT_CODES).map(([id, description]) => ({ id, description }));
    printSarif(
      sarifLog(
        'lint',
        rules,
        findings.map((f) => ({
          ruleId: f.code,
          level: f.severity,
          message: `${f.path}: ${f.message} (fix: ${f.fix})`,
          location: f.location,
        })),
      ),
    );
    return code;
  }
  for (const f of findings) process.stdout.write(`${text(f)}\n`);
  const counts = (['error', 'warning', 'note'] as const)
    .map((s) => {
      const n = findings.filter((f) => f.severity === s).length;
      return `${n} ${s}${n === 1 ? '' : 's'}`;
    })
    .join(', ');
  const ages = history ? '' : `; rollout ages not checked (no history under ${o.state})`;
  process.stdout.write(
    `${findings.length ? '\n' : ''}${errors ? paint('✗', 'red') : paint('✓', 'green')} ${counts}${ages} (${ms.toFixed(0)} ms)\n`,
  );
  return code;
}

const COLOR = { error: 'red', warning: 'yellow', note: 'blue' } as const;

function text(f: LintFinding): string {
  // What a finding quotes comes from the policy files: shown, never sent to the terminal as is.
  return `${cell(`${locationText(f.location)}: ${paint(f.severity, COLOR[f.severity])}: ${f.path}: ${f.message} [${f.code}]`)}\n    fix: ${cell(f.fix)}`;
}

/** The modes of the perimeters in the newest published versions, oldest first; undefined without a history. */
function publishedModes(state: string): PublishedModes[] | undefined {
  const h = History.existing(state);
  const entries = h?.entries() ?? [];
  if (!h || entries.length === 0) return undefined;
  return entries.slice(-HISTORY_DEPTH).map((e) => {
    const modes = new Map<string, string>();
    for (const p of h.policies(e).values()) for (const x of p.perimeters) if (!modes.has(x.name)) modes.set(x.name, modeFromProto(x.mode));
    return { timeMs: Date.parse(e.time), modes };
  });
}
