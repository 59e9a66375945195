/** Builds compiled policies from inline YAML for tests. */
import { type CompileResult, compile } from '../../control/compile/compile.js';
import { formatDiagnostic } from '../../control/policy/diagnostics.js';
import { type LoadOptions, type LoadResult, loadSources } from '../../control/policy/load.js';

export const TD = 'spiffe://td.example';

/** A registry of small workloads every test policy can use. */
export const REGISTRY = `
apiVersion: perimeter.dev/v1
kind: Mesh
metadata: {name: mesh}
spec: {trustDomain: td.example, defaultMode: enforce}
---
apiVersion: perimeter.dev/v1
kind: Workload
metadata: {name: api}
spec: {identity: ${TD}/ns/shop/sa/api, labels: {app: api, tier: backend}}
---
apiVersion: perimeter.dev/v1
kind: Workload
metadata: {name: web}
spec: {identity: ${TD}/ns/shop/sa/web, labels: {app: web, tier: frontend}}
---
apiVersion: perimeter.dev/v1
kind: Workload
metadata: {name: web2}
spec: {identity: ${TD}/ns/shop/sa/web2, labels: {app: web2, tier: frontend}}
---
apiVersion: perimeter.dev/v1
kind: Workload
metadata: {name: batch}
spec: {identity: ${TD}/ns/batch/sa/job, labels: {app: batch}}
---
apiVersion: perimeter.dev/v1
kind: Workload
metadata: {name: lonely}
spec: {identity: ${TD}/ns/misc/sa/lonely, labels: {app: lonely}}
`;

export function load(yaml: string, registry = REGISTRY, options: LoadOptions = {}): LoadResult {
  return loadSources(
    [
      { name: 'registry.yaml', text: registry },
      { name: 'policy.yaml', text: yaml },
    ],
    options,
  );
}

export function compiled(yaml: string, registry = REGISTRY, options: LoadOptions = {}): CompileResult {
  const r = load(yaml, registry, options);
  if (!r.ok) throw new Error(`test policy has errors:\n${r.diagnostics.map(formatDiagnostic).join('\n')}`);
  return compile(r.policy);
}

export function policyFor(result: CompileResult, workload: string) {
  const w = result.workloads.find((x) => x.workload.name === workload);
  if (!w) throw new Error(`no workload ${workload}`);
  return w.policy;
}

/** A Perimeter document around `api` with the given mode and rules (YAML list text). */
export function perimeter(mode: string, rules: string, name = 'api', selector = '{workloads: [api]}'): string {
  return `
apiVersion: perimeter.dev/v1
kind: Perimeter
metadata: {name: ${name}}
spec:
  owner: team
  mode: ${mode}
  selector: ${selector}
  rules:
${rules
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`;
}
