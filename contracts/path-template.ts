/**
 * Envoy's `uri_template` path matcher (extensions.path.match.uri_template.v3), the form istiod
 * compiles Istio's path templates to: `{*}` is `*`, `{**}` is `**`. Written once here for the
 * compiler and the reference evaluator; the filter implements the same rule (match.ts).
 *
 * A template is "/" and segments joined by "/": a literal of RFC 3986 pchar, `*` (one
 * non-empty segment of pchar) or `**` (zero or more characters of pchar and "/", the last
 * operator); a final "/" ends it in an empty literal. Envoy turns it into a regular expression
 * and full-matches the path without its query; this file decides the same without one.
 */
import { fail, ok, type Result } from './problem.js';

/** RFC 3986 pchar as Envoy's uri_template reads it: unreserved, "%", sub-delims but "*" and "=", ":" and "@". */
export function isTemplateChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2d || // -
    c === 0x2e || // .
    c === 0x5f || // _
    c === 0x7e || // ~
    c === 0x25 || // %
    c === 0x21 || // !
    c === 0x24 || // $
    c === 0x26 || // &
    c === 0x27 || // '
    c === 0x28 || // (
    c === 0x29 || // )
    c === 0x2b || // +
    c === 0x2c || // ,
    c === 0x3b || // ;
    c === 0x3a || // :
    c === 0x40 // @
  );
}

const allTemplateChars = (s: string, slash: boolean): boolean => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isTemplateChar(c) && !(slash && c === 0x2f)) return false;
  }
  return true;
};

/** Whether an Istio path value is a template (istiod: it contains `{*}` or `{**}`). */
export function isIstioTemplate(path: string): boolean {
  return path.includes('{*}') || path.includes('{**}');
}

/**
 * An Istio path template (`/api/{*}/items/{**}`) as the Envoy template istiod writes
 * (`/api/*\/items/**`), or why Istio's validation (or Envoy's) refuses it.
 */
export function templateFromIstio(path: string): Result<string> {
  if (!path.startsWith('/')) return fail('', 'a path template starts with "/"');
  const segments = path.replace(/^\/+|\/+$/g, '').split('/');
  let sawAny = false;
  for (const seg of segments) {
    if (seg === '{**}' || seg === '{*}') {
      if (sawAny) return fail('', '{**} must be the last operator of a template', 'end the template with {**}, or use {*} before it');
      sawAny = seg === '{**}';
      continue;
    }
    if (seg.includes('{') || seg.includes('}'))
      return fail('', `segment "${seg}" has "{" or "}" beyond {*} and {**}`, 'a template segment is {*}, {**} or a literal');
    if (seg === '' || !allTemplateChars(seg, false))
      return fail(
        '',
        `segment "${seg}" is not a literal of path characters`,
        "Envoy reads letters, digits and -._~%!$&'()+,;:@ in a literal",
      );
  }
  return ok(path.replaceAll('{**}', '**').replaceAll('{*}', '*'));
}

/** Whether a normalised path (no query) matches an Envoy template as templateFromIstio writes them. */
export function matchTemplate(template: string, path: string): boolean {
  if (!template.startsWith('/') || !path.startsWith('/')) return false;
  const segs = template.slice(1).split('/');
  let at = 1;
  for (const [i, seg] of segs.entries()) {
    if (i > 0) {
      if (path.charCodeAt(at) !== 0x2f) return false;
      at++;
    }
    if (seg === '**') {
      // Characters of pchar and "/", then the literal segments after it.
      const tail = segs
        .slice(i + 1)
        .map((s) => `/${s}`)
        .join('');
      const rest = path.slice(at);
      return rest.endsWith(tail) && allTemplateChars(rest.slice(0, rest.length - tail.length), true);
    }
    if (seg === '*') {
      const start = at;
      while (at < path.length && isTemplateChar(path.charCodeAt(at))) at++;
      if (at === start) return false;
    } else {
      if (!path.startsWith(seg, at)) return false;
      at += seg.length;
    }
  }
  return at === path.length;
}
