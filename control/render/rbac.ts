import { TYPE } from '../../contracts/type-urls.js';
import type { CompiledPolicy, CompiledRule } from '../../proto/gen/perimeter/v1/compiled.js';
import { PathParameters } from '../../proto/gen/perimeter/v1/compiled.js';
import { Action, Mode } from '../../proto/gen/perimeter/v1/policy.js';
import { andIds, andRules, conditionOf, Inexpressible, type Json, orIds, orRules, permissionOf, principalOf } from './rbac-parts.js';

export const RBAC_FILTER_NAMES = { deny: 'perimeter.rbac.deny', allow: 'perimeter.rbac.allow', audit: 'perimeter.rbac.audit' } as const;

export interface ExportIssue {
  severity: 'error' | 'warning';
  /** `Perimeter/db: rule "allow-web": when[0]` */
  path: string;
  message: string;
}

export interface RbacExport {
  /** HttpFilter entries (Envoy JSON form) to place before the router. */
  filters: Json[];
  issues: ExportIssue[];
  /** Rules left out because they had already expired at `nowMs`. */
  expired: string[];
}

function policyOf(rule: CompiledRule, policy: CompiledPolicy, at: (suffix: string) => string, issues: ExportIssue[]): Json | undefined {
  const fail = (suffix: string, e: unknown): undefined => {
    if (!(e instanceof Inexpressible)) throw e;
    issues.push({ severity: 'error', path: at(suffix), message: `${e.message}; Envoy RBAC cannot express it` });
    return undefined;
  };
  const principals: Json[] = [];
  const permissions: Json[] = [];
  let ok = true;
  rule.sources.forEach((s, i) => {
    try {
      principals.push(principalOf(s));
    } catch (e) {
      ok = fail(`from[${i}]`, e) ?? false;
    }
  });
  const ops: Json[] = [];
  rule.operations.forEach((o, i) => {
    try {
      ops.push(permissionOf(o, policy.methods));
    } catch (e) {
      ok = fail(`to[${i}]`, e) ?? false;
    }
  });
  permissions.push(ops.length ? orRules(ops) : { any: true });
  const principalConditions: Json[] = [];
  rule.conditions.forEach((c, i) => {
    try {
      const r = conditionOf(c, policy, rule.action === Action.ACTION_ALLOW);
      if (r.principal) principalConditions.push(r.principal);
      if (r.permission) permissions.push(r.permission);
    } catch (e) {
      ok = fail(`when[${i}]`, e) ?? false;
    }
  });
  if (!ok) return undefined;
  return {
    permissions: [andRules(permissions)],
    principals: [principalConditions.length ? andIds([orIds(principals), ...principalConditions]) : orIds(principals)],
  };
}

export interface RbacExportOptions {
  /** Rules that expire before this instant are left out; later expiries are reported. */
  nowMs?: number;
}

/** The RBAC filters of one workload; `issues` with severity error mean the export is incomplete. */
export function exportRbac(policy: CompiledPolicy, opts: RbacExportOptions = {}): RbacExport {
  const now = opts.nowMs ?? Date.now();
  const issues: ExportIssue[] = [];
  const expired: string[] = [];
  const groups = {
    deny: { enforced: new Map<string, Json>(), written: new Map<string, Json>() },
    allow: { enforced: new Map<string, Json>(), written: new Map<string, Json>() },
    audit: { enforced: new Map<string, Json>(), written: new Map<string, Json>() },
  };
  const taken = new Set<string>();
  for (const rule of policy.rules) {
    const perimeter = policy.perimeters[rule.perimeter]?.name ?? 'mesh';
    const where = `Perimeter/${perimeter}: rule "${rule.name}"`;
    if (rule.expiresUnixMs !== 0 && rule.expiresUnixMs <= now) {
      expired.push(`${perimeter}/${rule.name}`);
      continue;
    }
    if (rule.expiresUnixMs !== 0) {
      const when = new Date(rule.expiresUnixMs).toISOString();
      if (rule.action === Action.ACTION_ALLOW && rule.mode === Mode.MODE_ENFORCE && policy.defaultMode === Mode.MODE_ENFORCE) {
        // Envoy RBAC has no clock: exporting the allow would keep it open after its expiry.
        issues.push({
          severity: 'error',
          path: where,
          message: `expires at ${when}; Envoy RBAC has no clock, so the allow would outlive it (remove the expiry, or export after it)`,
        });
        continue;
      }
      issues.push({ severity: 'warning', path: where, message: `expires at ${when}; the exported rule does not, re-export after it` });
    }
    const p = policyOf(rule, policy, (s) => (s ? `${where}: ${s}` : where), issues);
    if (!p) continue;
    let key = `${perimeter}/${rule.name}`;
    for (let n = 2; taken.has(key); n++) key = `${perimeter}/${rule.name}#${n}`;
    taken.add(key);
    const group =
      rule.action === Action.ACTION_DENY
        ? groups.deny
        : rule.action === Action.ACTION_ALLOW
          ? groups.allow
          : rule.action === Action.ACTION_AUDIT
            ? groups.audit
            : undefined;
    if (!group) {
      issues.push({ severity: 'error', path: where, message: `action ${rule.action} is unknown to this exporter` });
      continue;
    }
    group.written.set(key, p);
    if (rule.mode === Mode.MODE_ENFORCE) group.enforced.set(key, p);
  }

  // Path parameters (compiled.proto PathParameters): refused paths are unsafe requests, denied
  // as the default deny is (enforced when it is); stripping them is the filter's alone.
  if (policy.pathParameters === PathParameters.PATH_PARAMETERS_STRIP)
    issues.push({
      severity: 'error',
      path: `Workload/${policy.workload}: pathParameters`,
      message: 'strip cannot be expressed in Envoy RBAC, which matches the path as it is; use reject (or keep) for this workload',
    });
  else if (policy.pathParameters !== PathParameters.PATH_PARAMETERS_KEEP) {
    const refuse = {
      permissions: [orRules(['.*;.*', '.*%3[bB].*'].map((regex) => ({ url_path: { path: { safe_regex: { regex } } } })))],
      principals: [{ any: true }],
    };
    groups.deny.written.set('perimeter/path-parameters', refuse);
    if (policy.defaultMode === Mode.MODE_ENFORCE) groups.deny.enforced.set('perimeter/path-parameters', refuse);
  }

  const rbac = (name: string, body: Json) => ({ name, typed_config: { '@type': TYPE.rbac, ...body } });
  const rules = (action: string, m: Map<string, Json>) => ({ action, policies: Object.fromEntries(m) });
  const filters: Json[] = [];
  if (groups.deny.written.size)
    filters.push(
      rbac(RBAC_FILTER_NAMES.deny, {
        ...(groups.deny.enforced.size ? { rules: rules('DENY', groups.deny.enforced) } : {}),
        shadow_rules: rules('DENY', groups.deny.written),
        rules_stat_prefix: 'perimeter_deny_',
        shadow_rules_stat_prefix: 'perimeter_written_deny_',
      }),
    );
  // The default deny is the allow filter's own: no enforced allow matches, the request is denied.
  const enforcing = policy.defaultMode === Mode.MODE_ENFORCE;
  if (enforcing || groups.allow.written.size)
    filters.push(
      rbac(RBAC_FILTER_NAMES.allow, {
        ...(enforcing ? { rules: rules('ALLOW', groups.allow.enforced) } : {}),
        shadow_rules: rules('ALLOW', groups.allow.written),
        rules_stat_prefix: 'perimeter_allow_',
        shadow_rules_stat_prefix: 'perimeter_written_allow_',
      }),
    );
  if (groups.audit.written.size)
    filters.push(rbac(RBAC_FILTER_NAMES.audit, { rules: rules('LOG', groups.audit.written), rules_stat_prefix: 'perimeter_audit_' }));
  return { filters, issues, expired };
}
