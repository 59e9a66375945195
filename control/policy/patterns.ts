/**
 * The patterns rules name, one owner for each form whatever the format that writes it (native
 * YAML, Istio, matcher objects, the native writer reading its own output back): paths and hosts
 * as requests are compared (normalised, lower case), and the identity forms: namespaces, service
 * accounts, trust domains, and Istio's `*` forms.
 */

import { isIstioTemplate, templateFromIstio } from '../../contracts/path-template.js';
import { fail, ok, type Result } from '../../contracts/problem.js';
import { normalizePath } from '../../contracts/request-path.js';
import type { StringMatch } from './model.js';

const HOST_PATTERN = /^(\*|(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)$/;

/** `/exact/path`, `/prefix/*` (segment boundary) or `/*`, as requests are compared after normalisation. */
export function parsePathPattern(p: string): Result<StringMatch> {
  if (!p.startsWith('/')) return fail('', 'a path starts with "/"', 'for example /orders or /orders/*');
  // Envoy's uri_template: {*} one segment, {**} any suffix (as Istio writes them).
  if (isIstioTemplate(p)) {
    const t = templateFromIstio(p);
    return t.ok ? ok({ kind: 'template', value: t.value }) : t;
  }
  if (p.includes('?') || p.includes('#')) return fail('', 'queries and fragments are not matched', 'remove everything from "?" or "#"');
  if (p.includes(';') || /%3b/i.test(p))
    return fail(
      '',
      'path parameters (";") are never matched',
      'a path with ";" is refused, or matched without it (Mesh or Workload pathParameters)',
    );
  const prefix = p.endsWith('/*');
  const base = prefix ? p.slice(0, -2) : p;
  if (base.includes('*'))
    return fail(
      '',
      '"*" is allowed only as a final "/*" segment',
      '/orders/* matches /orders and everything below it; /orders/{*}/items one segment between',
    );
  if (base === '') return ok({ kind: 'segment-prefix', value: '' });
  const n = normalizePath(base);
  if (!n.ok) return fail('', n.reason, 'write the path as a client would send it after normalisation');
  if (n.path !== base)
    return fail('', 'it is not normalised; requests are compared after normalisation', `write "${n.path}${prefix ? '/*' : ''}"`);
  return ok(prefix ? { kind: 'segment-prefix', value: base } : { kind: 'exact', value: base });
}

/** A DNS name, `*.suffix` or `*`, lower case, without a port. */
export function parseHostPattern(h: string): Result<StringMatch> {
  if (h !== h.toLowerCase()) return fail('', 'hosts are compared case-insensitively; write it in lower case');
  if (h.includes(':')) return fail('', 'ports are not part of a host pattern; use ports: [...]');
  if (!HOST_PATTERN.test(h)) return fail('', 'use a DNS name, "*.suffix" or "*"');
  if (h === '*') return ok({ kind: 'present', value: '' });
  if (h.startsWith('*.')) return ok({ kind: 'suffix', value: h.slice(1) });
  return ok({ kind: 'exact', value: h });
}

/** Istio's string forms: exact, `prefix*`, `*suffix`, `*` (presence); `transform` maps the literal part. */
export function istioMatch(text: string, transform: (s: string) => string = (s) => s): StringMatch {
  if (text === '*') return { kind: 'present', value: '' };
  if (text.endsWith('*')) return { kind: 'prefix', value: transform(text.slice(0, -1)) };
  if (text.startsWith('*')) return { kind: 'suffix', value: text.slice(1) };
  return { kind: 'exact', value: transform(text) };
}

const NAMESPACE = /^[a-z0-9*]([-a-z0-9.*]*[a-z0-9*])?$/;

/** A namespace name, a pattern such as `team-*` (each `*` any characters), or `*` for any identity. */
export function parseNamespacePattern(text: string): Result<StringMatch> {
  if (text === '*') return ok({ kind: 'present', value: '' });
  if (!NAMESPACE.test(text))
    return fail('', `"${text}" is not a namespace`, 'a namespace name, a pattern such as "team-*", or "*" for any');
  return ok(text.includes('*') ? { kind: 'namespace-pattern', value: text } : { kind: 'contains', value: `/ns/${text}/` });
}

/** `<namespace>/<serviceaccount>`, in any trust domain, without wildcards. */
export function parseServiceAccountPattern(text: string): Result<StringMatch> {
  if (!/^[^/*]+\/[^/*]+$/.test(text))
    return fail('', `"${text}" is not <namespace>/<serviceaccount>`, 'it names that account in any trust domain');
  return ok({ kind: 'service-account', value: text });
}

/** A trust domain: a name, `prefix*`, `*suffix` or `*` (Istio's CheckTrustDomainValues), never with "/". */
export function parseTrustDomainPattern(text: string): Result<StringMatch> {
  const stars = text.split('*').length - 1;
  if (text === '' || stars > 1 || (stars === 1 && !text.startsWith('*') && !text.endsWith('*')) || text.includes('/'))
    return fail('', `"${text}" is not a trust-domain pattern`, 'a trust domain is a name, "prefix*", "*suffix" or "*", without "/"');
  return ok({ kind: 'trust-domain', value: text });
}
