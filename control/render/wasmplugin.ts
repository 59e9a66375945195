/**
 * An Istio `WasmPlugin` that drops the Perimeter filter into an existing Istio mesh for one
 * workload: selected by its labels, in the AUTHZ phase, failing closed, with the workload's
 * CompiledPolicy as `pluginConfig.policy` (base64; Istio passes pluginConfig to the module as
 * JSON). The policy changes when the resource is re-applied (GitOps); the live path with history
 * and rollback is the control server's ECDS stream.
 */
import { stringify } from 'yaml';
import { RESOURCE_NAME } from '../../contracts/ecds.js';
import type { Workload } from '../policy/model.js';

export interface WasmPluginOptions {
  workload: Workload;
  policy: Uint8Array;
  policyVersion: string;
  /** Where Istio fetches the module: oci://, https:// or file://. */
  url: string;
  sha256: string;
}

export function renderWasmPlugin(o: WasmPluginOptions): string {
  const doc = {
    apiVersion: 'extensions.istio.io/v1alpha1',
    kind: 'WasmPlugin',
    metadata: {
      name: `perimeter-${o.workload.name}`,
      namespace: o.workload.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'perimeter' },
      annotations: { 'perimeter.dev/policy-version': o.policyVersion, 'perimeter.dev/identity': o.workload.identity },
    },
    spec: {
      selector: { matchLabels: o.workload.labels },
      url: o.url,
      sha256: o.sha256,
      pluginName: RESOURCE_NAME,
      phase: 'AUTHZ',
      failStrategy: 'FAIL_CLOSE',
      imagePullPolicy: 'IfNotPresent',
      pluginConfig: { policy: Buffer.from(o.policy).toString('base64') },
    },
  };
  return `# Perimeter filter for ${o.workload.name} (${o.workload.identity}) in an Istio mesh, by perimeter envoy wasmplugin.\n${stringify(doc, { lineWidth: 0 })}`;
}
