/**
 * The `perimeter` command line: every command is a file of cli/commands/ that declares its flags
 * and what it runs; this file lists them in the order `perimeter --help` shows them. Commands
 * return exit codes; errors a user can fix are printed as one line without a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { AnalysisLimit } from '../control/analysis/dimension.js';
import { applyCommand } from './commands/apply.js';
import { caInitCommand } from './commands/ca-init.js';
import { caIssueCommand } from './commands/ca-issue.js';
import { checkCommand } from './commands/check.js';
import { compileCommand } from './commands/compile.js';
import { demoCommand } from './commands/demo.js';
import { diffCommand } from './commands/diff.js';
import { envoyBootstrapCommand } from './commands/envoy-bootstrap.js';
import { envoyWasmPluginCommand } from './commands/envoy-wasmplugin.js';
import { exportRbacCommand } from './commands/export.js';
import { flowsCommand } from './commands/flows.js';
import { flowsImportCommand } from './commands/flows-import.js';
import { importIstioCommand } from './commands/import-istio.js';
import { lintCommand } from './commands/lint.js';
import { mapCommand } from './commands/map.js';
import { promoteCommand } from './commands/promote.js';
import { quarantineCommand } from './commands/quarantine.js';
import { recommendCommand } from './commands/recommend.js';
import { releaseCommand } from './commands/release.js';
import { replayCommand } from './commands/replay.js';
import { reportCommand } from './commands/report.js';
import { rollbackCommand } from './commands/rollback.js';
import { serveCommand } from './commands/serve.js';
import { sidecarCommand } from './commands/sidecar.js';
import { statusCommand } from './commands/status.js';
import { validateCommand } from './commands/validate.js';
import { verifyCommand } from './commands/verify.js';
import { versionsCommand } from './commands/versions.js';
import { describeGroup, type Registrable } from './support/flags.js';
import { InputError } from './support/load-policy.js';
import { UsageError } from './support/targets.js';

/** Groups of commands (`perimeter ca init`), described before their first command registers. */
const GROUPS: Record<string, string> = {
  ca: 'the mesh CA: X.509-SVIDs (ECDSA P-256, SPIFFE ID as URI SAN)',
  envoy: 'Envoy configuration for the sidecars',
  export: "the policy in another engine's form",
  import: 'policies from another format, as native Perimeter YAML',
};

const COMMANDS: readonly Registrable[] = [
  validateCommand,
  compileCommand,
  checkCommand,
  lintCommand,
  verifyCommand,
  caInitCommand,
  caIssueCommand,
  envoyBootstrapCommand,
  envoyWasmPluginCommand,
  flowsCommand,
  flowsImportCommand,
  mapCommand,
  recommendCommand,
  replayCommand,
  reportCommand,
  exportRbacCommand,
  importIstioCommand,
  sidecarCommand,
  demoCommand,
  serveCommand,
  applyCommand,
  statusCommand,
  versionsCommand,
  diffCommand,
  promoteCommand,
  rollbackCommand,
  quarantineCommand,
  releaseCommand,
];

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('perimeter')
    .description('Zero Trust micro-perimeters for service meshes')
    .exitOverride()
    // Each command's flags are read before its subcommand's name (`flows --state` vs `flows import
    // --state`); commands made from the program inherit it.
    .enablePositionalOptions()
    .configureOutput({ outputError: (s, write) => write(s) });
  for (const c of COMMANDS) {
    const group = c.path.length > 1 ? (c.path[0] as string) : undefined;
    if (group && !program.commands.some((x) => x.name() === group)) describeGroup(program, group, GROUPS[group] ?? '');
    c.register(program, setExit);
  }
  return program;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    if (e instanceof UsageError || e instanceof InputError) {
      process.stderr.write(`perimeter: ${e.message}\n`);
      return 1;
    }
    if (e instanceof AnalysisLimit) {
      process.stderr.write(
        `perimeter: the policy cannot be analysed exactly within the analysis's bounds (${e.message}); nothing was decided\n`,
      );
      return 1;
    }
    throw e;
  }
}
