/**
 * The `perimeter` command line. Commands return exit codes; errors a user can fix are
 * printed as one line without a stack trace.
 */
import { Command, CommanderError, Option } from 'commander';
import { RESOURCE_NAME } from '../contracts/ecds.js';
import { DEFAULT_MODULE_PATH } from '../contracts/module.js';
import { runCaInit, runCaIssue } from './ca-cmd.js';
import { runCheck } from './check-cmd.js';
import { runCompile } from './compile-cmd.js';
import { runDemo } from './demo-cmd.js';
import { BOOTSTRAP_DEFAULTS, runEnvoyBootstrap, runWasmPlugin } from './envoy-cmd.js';
import { runExportRbac } from './export-cmd.js';
import { runFlows } from './flows-cmd.js';
import { runDiff, runRollback, runStatus, runVersions } from './history-cmd.js';
import { InputError } from './load-policy.js';
import { runMap } from './map-cmd.js';
import { runPromote } from './promote-cmd.js';
import { runQuarantine, runRelease } from './quarantine-cmd.js';
import { runRecommend } from './recommend-cmd.js';
import { runReplay } from './replay-cmd.js';
import { runReport } from './report-cmd.js';
import { runServe } from './serve-cmd.js';
import { runSidecar } from './sidecar-cmd.js';
import { UsageError } from './targets.js';
import { runValidate } from './validate-cmd.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];
/** Where the server keeps its CA, history and server.json unless told otherwise. */
const STATE = process.env.PERIMETER_STATE ?? '.perimeter';

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('perimeter')
    .description('Zero Trust micro-perimeters for service meshes')
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(s) });

  program
    .command('validate')
    .description('check policy files and directories; every error at once (exit 1 on errors)')
    .argument('<paths...>', 'YAML files or directories')
    .option('--json', 'machine-readable output')
    .action((paths: string[], o) => setExit(runValidate(paths, o)));

  program
    .command('compile')
    .description('compile a policy directory into one CompiledPolicy per workload')
    .argument('<dir>', 'policy directory')
    .option('--json', 'machine-readable output')
    .option('--out <dir>', 'also write <workload>.pb files (the filter configuration)')
    .action((dir: string, o) => setExit(runCompile(dir, o)));

  program
    .command('check')
    .description('decide one request (or a file of flows) and explain the decision; exit 0 allow, 3 deny')
    .requiredOption('--policy <dir>', 'policy directory')
    .option('--to <workload>', 'destination workload name or SPIFFE ID')
    .option('--from <caller>', 'caller: SPIFFE ID, workload name or "unauthenticated"')
    .option('--method <method>', 'HTTP method')
    .option('--path <path>', 'request path (as sent, query included)')
    .option('--host <host>', ':authority')
    .option('--port <port>', 'destination port')
    .option('--header <k=v>', 'request header (repeatable)', collect)
    .option('--claim <k=v>', 'verified JWT claim; a,b,c for a list (repeatable)', collect)
    .option('--flows <file>', 'check every flow in a YAML file (exit 4 if one is not as expected)')
    .addOption(
      new Option('--engine <engine>', 'perimeter.wasm in the Envoy-faithful host, or the TypeScript reference evaluator')
        .choices(['wasm', 'reference'])
        .default('wasm'),
    )
    .option('--json', 'machine-readable output')
    .action((o) => setExit(runCheck(o)));

  const ca = program.command('ca').description('the mesh CA: X.509-SVIDs (ECDSA P-256, SPIFFE ID as URI SAN)');
  ca.command('init')
    .description('create the mesh CA under <state>/ca/')
    .option('--state <dir>', 'state directory', STATE)
    .requiredOption('--trust-domain <td>', 'SPIFFE trust domain, e.g. shop.example')
    .option('--validity-days <n>', 'CA lifetime in days', '365')
    .option('--force', 'replace an existing CA (every SVID it issued stops verifying)')
    .action(async (o) => setExit(await runCaInit(o)));
  ca.command('issue')
    .description('issue an X.509-SVID for a SPIFFE ID of the trust domain')
    .option('--state <dir>', 'state directory holding the CA', STATE)
    .requiredOption('--identity <spiffe-id>', 'spiffe://<trust-domain>/ns/<ns>/sa/<sa>')
    .option('--ttl <duration>', 'lifetime, e.g. 1h, 24h, 7d', '24h')
    .option('--out <dir>', 'where to write <name>.crt.pem and <name>.key.pem (default <state>/svids)')
    .option('--name <name>', 'file name (default: the last path segment of the identity)')
    .option('--dns <name>', 'also a DNS SAN (repeatable)', collect)
    .option('--json', 'machine-readable output')
    .action(async (o) => setExit(await runCaIssue(o)));

  const envoy = program.command('envoy').description('Envoy configuration for the sidecars');
  envoy
    .command('bootstrap')
    .description("render a workload's Envoy bootstrap (mTLS inbound and outbound, the filter by ECDS, ALS), checked against Envoy's protos")
    .requiredOption('--workload <name>', 'workload name or SPIFFE ID')
    .requiredOption('--policy <dir>', 'policy directory (the registry and what the policy needs)')
    .requiredOption('--control <host:port>', 'the control server (xDS and ALS)')
    .option(
      '--control-identity <spiffe-id>',
      'SPIFFE ID the control server must present (default …/ns/perimeter-system/sa/perimeter-control)',
    )
    .option('--inbound <port>', 'inbound mTLS listener', BOOTSTRAP_DEFAULTS.inbound)
    .option('--app <port>', 'the local app behind the sidecar', BOOTSTRAP_DEFAULTS.app)
    .option('--outbound <port>', 'outbound listener on loopback (plain HTTP from the app)', BOOTSTRAP_DEFAULTS.outbound)
    .option('--admin-port <port>', 'Envoy admin, on loopback', BOOTSTRAP_DEFAULTS.adminPort)
    .option('--certs <dir>', 'where svid.crt.pem, svid.key.pem and ca.crt.pem are mounted', BOOTSTRAP_DEFAULTS.certs)
    .option(
      '--peer <workload=host:port>',
      'an outbound destination (repeatable; default: every workload at <name>.<ns>.svc.cluster.local)',
      collect,
    )
    .option('--delta', 'incremental xDS (DELTA_GRPC) instead of state of the world')
    .option('--jwks <file>', 'JWKS for jwt_authn, when the policy reads claims', BOOTSTRAP_DEFAULTS.jwks)
    .option('--jwt-issuer <iss>', 'expected JWT issuer')
    .option('--jwt-audience <aud>', 'a token must be minted for this audience (repeatable: any of them)', collect)
    .option('--handshake-timeout <s>', 'close an inbound connection whose TLS handshake takes longer', '10')
    .option('--headers-timeout <s>', 'close an inbound connection whose request headers take longer', '10')
    .option('--idle-timeout <s>', 'close an inbound connection idle this long', '300')
    .option('--max-connections <n>', 'refuse inbound connections past this many', '4096')
    .option('--resource-name <name>', 'ECDS resource name, as the control server serves it', BOOTSTRAP_DEFAULTS.resourceName)
    .option('--out <file>', 'write to a file instead of stdout')
    .action((o) => setExit(runEnvoyBootstrap(o)));

  envoy
    .command('wasmplugin')
    .description("an Istio WasmPlugin carrying a workload's policy, for an existing Istio mesh")
    .requiredOption('--workload <name>', 'workload name or SPIFFE ID')
    .requiredOption('--policy <dir>', 'policy directory')
    .option('--url <url>', 'where Istio fetches the module (oci://, https://, file://)', 'oci://ghcr.io/perimeter-dev/perimeter-wasm:0.1.0')
    .option('--wasm <file>', 'the module whose sha256 is pinned (default filter/build/perimeter.wasm)')
    .option('--out <file>', 'write to a file instead of stdout')
    .action((o) => setExit(runWasmPlugin(o)));

  program
    .command('flows')
    .description('the flows the control server recorded from its sidecars (source → destination, method, path template), busiest first')
    .option('--state <dir>', 'the control server state directory', STATE)
    .option('--to <workload>', 'only flows to this workload')
    .option('--denied', 'only flows with denied or would-be-denied requests')
    .option('--disagree', 'only flows the staged candidates would decide otherwise')
    .option('--since <when>', 'only flows seen since: 30m, 2h, 7d, or a date')
    .option('--limit <n>', 'at most this many rows', '50')
    .option('--json', 'machine-readable output')
    .action(async (o) => setExit(await runFlows(o)));

  program
    .command('map')
    .description('the dependency map: workloads grouped by perimeter, edges from the recorded flows (denied and would-be-denied marked)')
    .requiredOption('--policy <dir>', 'policy directory')
    .option('--state <dir>', 'the control server state directory (its recorded flows)', STATE)
    .option('--since <when>', 'only flows seen since: 30m, 2h, 7d, or a date')
    .option('--format <format>', 'svg or dot', 'svg')
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (o) => setExit(await runMap(o)));

  program
    .command('recommend')
    .description('a least-privilege Perimeter for a workload from its recorded flows, in simulate mode, with the evidence as comments')
    .requiredOption('--for <workload>', 'the workload (name or SPIFFE ID)')
    .requiredOption('--policy <dir>', 'policy directory (the registry the rules name)')
    .option('--state <dir>', 'the control server state directory (its recorded flows)', STATE)
    .option('--since <when>', 'only flows seen since: 30m, 2h, 7d, or a date')
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (o) => setExit(await runRecommend(o)));

  program
    .command('replay')
    .description(
      'decide the recorded flows with the current policy and a candidate; exit 3 if the candidate denies observed traffic the current policy allows',
    )
    .requiredOption('--candidate <dir>', 'the candidate policy directory')
    .requiredOption('--policy <dir>', 'the current policy directory')
    .option('--state <dir>', 'the control server state directory (its recorded flows)', STATE)
    .option('--since <when>', 'only flows seen since: 30m, 2h, 7d, or a date')
    .option('--json', 'machine-readable output')
    .action(async (o) => setExit(await runReplay(o)));

  program
    .command('report')
    .description(
      'posture (default deny, perimeters not enforced, rules open to any identity, who reaches the crown jewels), unused rules from recorded hits, staged candidates’ disagreements',
    )
    .requiredOption('--policy <dir>', 'policy directory')
    .option('--state <dir>', 'the control server state directory (its recorded rule hits and flows)', STATE)
    .option('--since <when>', 'count only hits since: 30m, 2h, 7d, or a date')
    .option('--json', 'machine-readable output')
    .action(async (o) => setExit(await runReport(o)));

  program
    .command('export')
    .description("the policy in another engine's form")
    .command('rbac')
    .description(
      "a workload's perimeters as Envoy RBAC HTTP filters (deny, allow, audit), checked against Envoy's protos; exit 1 if a rule cannot be expressed",
    )
    .requiredOption('--policy <dir>', 'policy directory')
    .option('--workload <name>', 'one workload (name or SPIFFE ID): prints its http_filters list; default every workload, keyed by name')
    .option('--json', 'JSON instead of YAML')
    .option('--out <file>', 'write to a file instead of stdout')
    .action((o) => setExit(runExportRbac(o)));

  program
    .command('sidecar')
    .description("the local sidecar: a workload's mTLS inbound (policy from the control server, enforced by the Wasm module) and outbound")
    .requiredOption('--workload <name|spiffe-id>', 'the workload (a name needs --policy)')
    .requiredOption('--control <host:port>', 'the control server')
    .requiredOption('--inbound <port>', 'inbound mTLS port (0: any free port)')
    .requiredOption('--upstream <host:port>', 'the app behind the sidecar')
    .option('--outbound <port>', 'loopback port for the app’s outbound calls')
    .option('--admin-port <port>', 'loopback admin: /stats/prometheus, /ready')
    .option(
      '--als <host:port>',
      'stream access entries (with the decision record) to this Access Log Service (default: the control server, which records them as flows)',
    )
    .option('--jwks <file>', 'verify bearer tokens against this JWKS and hand the claims to the module (as Envoy jwt_authn)')
    .option('--jwt-issuer <iss>', 'expected JWT issuer')
    .option('--jwt-audience <aud>', 'a token must be minted for this audience (repeatable: any of them)', collect)
    .option('--handshake-timeout <s>', 'close an inbound connection whose TLS handshake takes longer', '10')
    .option('--headers-timeout <s>', 'close an inbound connection whose request headers take longer', '10')
    .option('--idle-timeout <s>', 'close an inbound connection idle this long', '300')
    .option('--max-connections <n>', 'refuse inbound connections past this many', '4096')
    .option('--peer <workload=host:port>', 'an outbound destination (repeatable; needs --policy)', collect)
    .option('--policy <dir>', 'policy directory, to resolve workload names')
    .option('--state <dir>', 'state directory whose CA issues this sidecar’s SVID', STATE)
    .option('--cert <file>', 'SVID certificate chain (instead of issuing one from --state)')
    .option('--key <file>', 'SVID private key')
    .option('--ca <file>', 'mesh CA certificate')
    .option('--wasm <file>', 'the Proxy-Wasm module to run (default filter/build/perimeter.wasm)')
    .option('--control-identity <spiffe-id>', 'SPIFFE ID the control server must present')
    .option('--delta', 'incremental xDS')
    .action(async (o) => setExit(await runSidecar(o)));

  program
    .command('demo')
    .description('the example shop as a live mesh on loopback: control server, CA, one sidecar per workload, traffic')
    .option('--policy <dir>', 'policy directory', 'examples/shop/policy')
    .option('--flows <file>', 'flows to play', 'examples/shop/flows.yaml')
    .option('--interval <ms>', 'time between rounds after the policy change', '5000')
    .option('--once', 'stop after the policy change round (exit 4 if a first-round decision is not as expected)')
    .action(async (o) => setExit(await runDemo(o)));

  program
    .command('serve')
    .description('run the xDS control server: compile the policy, watch it, stream each sidecar its own policy')
    .requiredOption('--policy <path>', 'policy file or directory (repeatable)', collect)
    .option('--state <dir>', 'state directory: CA, history, server.json', STATE)
    .option('--listen <host:port>', 'xDS (gRPC) listener', '127.0.0.1:18000')
    .option('--admin <host:port>', 'admin endpoint: /metrics, /status, /versions, /rollback', '127.0.0.1:18001')
    .option('--no-admin', 'no admin endpoint')
    .option('--admin-token-file <file>', 'the operator token changes need (default: a new one in <state>/admin.token, mode 0600)')
    .option('--admin-host <name>', 'a host name the admin endpoint answers to, besides IP addresses and localhost (repeatable)', collect)
    .option('--insecure', 'plaintext xDS, trusting node.id as the identity (local development only)')
    .option('--debounce <ms>', 'quiet time before a policy change is compiled', '100')
    .option('--resource-name <name>', 'ECDS resource name (the HttpFilter name in the sidecar)', RESOURCE_NAME)
    .option('--module-path <path>', 'where sidecars find perimeter.wasm', DEFAULT_MODULE_PATH)
    .option('--wasm <file>', 'the module sidecars run (its sha256 names the VM); default filter/build/perimeter.wasm')
    .option('--log-level <level>', 'debug, info, warn, error', 'info')
    .action(async (o) => setExit(await runServe(o)));

  program
    .command('status')
    .description('the running control server: snapshot, rejected changes, connected sidecars and what they ACKed')
    .option('--state <dir>', 'state directory of the running server', STATE)
    .option('--json', 'machine-readable output')
    .action(async (o) => setExit(await runStatus(o)));

  program
    .command('versions')
    .description('the published versions, newest last')
    .option('--state <dir>', 'state directory', STATE)
    .option('--json', 'machine-readable output')
    .action((o) => setExit(runVersions(o)));

  program
    .command('diff')
    .description('which rules changed between two versions, per workload (#seq or version digest prefix)')
    .argument('<from>')
    .argument('<to>')
    .option('--state <dir>', 'state directory', STATE)
    .option('--json', 'machine-readable output')
    .action((a: string, b: string, o) => setExit(runDiff(a, b, o)));

  program
    .command('promote')
    .description(
      "make a perimeter's staged candidate its live rules (and mode), keeping the replaced rules as spec.previous; edits the YAML, validated whole first",
    )
    .argument('<perimeter>', 'the perimeter')
    .requiredOption('--policy <dir>', 'policy directory')
    .option('--state <dir>', 'the control server state directory (to show the disagreements recorded)', STATE)
    .option('--dry-run', 'show what would change, write nothing')
    .option('--json', 'machine-readable output')
    .action(async (name: string, o) => setExit(await runPromote(name, 'promote', o)));

  program
    .command('rollback')
    .description(
      'with --policy: bring back the rules a promote replaced (they become live, the promoted ones are staged again); without: republish an old version on the running server until the policy directory next changes',
    )
    .argument('<version|perimeter>', 'a perimeter (with --policy), or #seq or version digest prefix')
    .option('--policy <dir>', 'roll back a perimeter in this policy directory')
    .option('--state <dir>', 'state directory of the running server', STATE)
    .option('--dry-run', 'with --policy: show what would change, write nothing')
    .option('--json', 'machine-readable output')
    .action(async (v: string, o) => setExit(o.policy ? await runPromote(v, 'rollback', o) : await runRollback(v, o)));

  program
    .command('quarantine')
    .description(
      'deny every request from an identity (and with --both, to it) on every sidecar, now; waits until the connected sidecars ACK (exit 5 if some did not in time). Without an identity: the list',
    )
    .argument('[spiffe-id]', 'the identity to contain')
    .option('--both', 'also deny every request to the identity’s own workload')
    .option('--reason <text>', 'why (kept in the history and shown in the list)')
    .option('--state <dir>', 'state directory of the running server', STATE)
    .option('--wait <ms>', 'how long to wait for the sidecars’ ACKs', '5000')
    .option('--json', 'machine-readable output')
    .action(async (id: string | undefined, o) => setExit(await runQuarantine(id, o)));

  program
    .command('release')
    .description('lift a quarantine; waits until the connected sidecars ACK (exit 5 if some did not in time)')
    .argument('<spiffe-id>', 'the quarantined identity')
    .option('--state <dir>', 'state directory of the running server', STATE)
    .option('--wait <ms>', 'how long to wait for the sidecars’ ACKs', '5000')
    .option('--json', 'machine-readable output')
    .action(async (id: string, o) => setExit(await runRelease(id, o)));

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
    throw e;
  }
}
