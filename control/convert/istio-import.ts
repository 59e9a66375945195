/**
 * `perimeter import istio`: the AuthorizationPolicies of a loaded policy set as native Perimeter
 * YAML (native.ts), each document naming its source, and the proof that nothing changed: the set
 * with the native documents in place of the Istio ones compiles to the same bytes for every
 * registered workload.
 */
import { compile } from '../compile/compile.js';
import { trustBundle } from '../compile/trust-domains.js';
import type { Diagnostic } from '../policy/diagnostics.js';
import { type LoadResult, loadSources } from '../policy/load.js';
import type { Perimeter } from '../policy/model.js';
import { nativeDocument } from './native.js';

export interface ImportedPolicy {
  /** `<namespace>.<name>`, the perimeter's name. */
  name: string;
  action: 'ALLOW' | 'DENY' | 'AUDIT';
  file: string;
  line: number;
  rules: number;
  /** What --skip-unsupported dropped from it, as the warnings say. */
  dropped: string[];
}

export interface IstioImport {
  yaml: string;
  policies: ImportedPolicy[];
  /** Workloads whose compiled policy is the same with the native text; undefined when none is registered. */
  verified?: { workloads: number; differ: string[] };
}

const actionOf = (p: Perimeter): ImportedPolicy['action'] =>
  p.defaultDeny !== false ? 'ALLOW' : p.rules.some((r) => r.action === 'deny') ? 'DENY' : 'AUDIT';

export function importIstio(loaded: LoadResult): IstioImport {
  const bundle = trustBundle(loaded.policy.mesh);
  const istio = loaded.policy.perimeters.filter((p) => p.origin === 'istio');
  const policies: ImportedPolicy[] = istio.map((p) => ({
    name: p.name,
    action: actionOf(p),
    file: p.location.file,
    line: p.location.line,
    rules: p.rules.length,
    dropped: droppedFrom(p, loaded.diagnostics),
  }));
  const yaml = istio
    .map((p, i) => {
      const info = policies[i] as ImportedPolicy;
      const [ns, ...rest] = p.name.split('.');
      const comment = [
        `Imported from Istio AuthorizationPolicy ${ns}/${rest.join('.')} (${info.file}:${info.line}), action ${info.action}${p.mode === 'simulate' ? ', dry run' : ''}, by perimeter import istio.`,
        ...info.dropped.map((d) => `Not converted: ${d}`),
      ].join('\n');
      return nativeDocument(p, bundle, comment);
    })
    .join('---\n');
  return { yaml, policies, ...verify(loaded, yaml) };
}

function droppedFrom(p: Perimeter, diagnostics: readonly Diagnostic[]): string[] {
  const prefix = `AuthorizationPolicy/${p.name}`;
  return diagnostics
    .filter((d) => d.severity === 'warning' && d.path.startsWith(prefix) && d.message.startsWith('dropped'))
    .map((d) => `${d.path.slice(prefix.length).replace(/^: /, '')}: ${d.message}`);
}

/** The set with the native text in place of the Istio documents, compiled beside the original. */
function verify(loaded: LoadResult, yaml: string): Pick<IstioImport, 'verified'> {
  if (loaded.policy.workloads.length === 0) return {};
  const native = loadSources([{ name: 'imported.yaml', text: yaml }]);
  if (!native.ok) return { verified: { workloads: 0, differ: native.diagnostics.map((d) => `imported.yaml does not load: ${d.message}`) } };
  const before = compile(loaded.policy);
  const after = compile({
    ...loaded.policy,
    perimeters: [...loaded.policy.perimeters.filter((p) => p.origin !== 'istio'), ...native.policy.perimeters],
  });
  const versions = new Map(after.workloads.map((w) => [w.workload.name, w.version]));
  const differ = before.workloads.filter((w) => versions.get(w.workload.name) !== w.version).map((w) => w.workload.name);
  return { verified: { workloads: before.workloads.length, differ } };
}
