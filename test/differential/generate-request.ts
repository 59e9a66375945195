/**
 * Random requests for the differential test: callers among the generated identities, paths and
 * authorities a normaliser must handle (escapes, dot segments, parameters, case), repeated
 * headers, and claims of every JSON type.
 */
import type { PolicyRequest } from '../../contracts/request.js';
import { IDENTITIES, NOW, pick } from './generate.js';

/** Callers under the trust domain's aliases, beside the generated identities. */
const CALLERS = [...IDENTITIES, 'spiffe://td.old/ns/a/sa/x', 'spiffe://other.example/ns/b/sa/x', 'spiffe://td.old/ns/a/sa/y'];

const REQ_PATHS = [
  '/a',
  '/a/',
  '/a/b',
  '/ab',
  '/a/../b',
  '//a//b',
  '/a/%62',
  '/a%2Fb',
  '/%2e%2e/a',
  '/a?x=/b',
  '/x.json',
  '/',
  '/a/./b/..',
  '/A',
  '/a/b/c/',
  'relative',
  '/a%zz',
  '/a b',
  '/%61/b',
  '/a%20b',
  '/a#frag',
  '/a/..',
  '/..',
  '/a/b/../../..',
  '/a\\b',
  '/a%5cb',
  '/a/%2e/b',
  '/a%7e',
  '/a.json?q',
  '/a;x',
  '/a;x/b',
  '/a/..;/b',
  '/a;/../b',
  '/a/b;c/..',
  '/a/;x',
  '/;',
  '/a%3Bx',
  '/a%3bx/b',
  '/A/b',
  '/A/B/',
  '/%41/b',
  '/a/B.JSON',
  '/a?x#f',
  '/a/x=y',
  '/a/x*y',
  '/a/b/c/b',
  '/c/b',
  '/a/~b!',
  '/a/b/',
  '/a/"q"',
];
const REQ_HOSTS = [
  undefined,
  'api.example.com',
  'API.Example.COM:8443',
  'example.com',
  'x.example.com.',
  '[::1]:80',
  '',
  'api.other.org',
  'a'.repeat(1030),
];
const REQ_METHODS = ['GET', 'POST', 'DELETE', 'get', 'PATCH', 'FOO', 'HEAD', 'PROPFIND', 'PROPPATCH', 'PURGE', 'MKCOL', 'pOST', 'SEND'];

const PAIRS_LOOKALIKE = '\x01\0\0\0\x03\0\0\0\0\0\0\0mfa\0\0';
/** Claims of every JSON type, and strings that look like another type's encoding. */
const ODD_CLAIMS: unknown[] = [
  { mfa: 'mfa' },
  { amr: ['mfa'] },
  1,
  0,
  true,
  false,
  null,
  [],
  ['mfa', 2, { x: 'mfa' }, ['mfa']],
  [true, 'admins'],
  PAIRS_LOOKALIKE,
  'mfa\0',
  '',
];

/** One line of a header; some look like lists, with spaces the application would trim. */
const HEADER_LINES = ['v', 'vv', '', 'x', 'vx', 'v,x', 'x, v', ' v', 'v ,x', ',', 'x,'];

/** A header sent once (a string) or two or three times (its lines, in order). */
function headerLines(r: () => number, lines: readonly string[]): string | string[] {
  const roll = r();
  if (roll < 0.7) return pick(r, lines);
  return Array.from({ length: roll < 0.9 ? 2 : 3 }, () => pick(r, lines));
}

export function randomRequest(r: () => number): PolicyRequest {
  const headers: Record<string, string | string[]> = {};
  if (r() < 0.6) headers['x-a'] = headerLines(r, HEADER_LINES);
  if (r() < 0.3) headers['x-b'] = headerLines(r, ['v', '', 'x']);
  const claimsRoll = r();
  const claims =
    claimsRoll < 0.35
      ? undefined
      : claimsRoll < 0.5
        ? { amr: ['pwd', 'mfa'] }
        : claimsRoll < 0.6
          ? { amr: 'mfa', groups: ['admins'] }
          : claimsRoll < 0.72
            ? { iss: 'https://iss', sub: pick(r, ['alice', 'bob']), amr: ['pwd'] }
            : claimsRoll < 0.76
              ? { groups: 'admins' }
              : claimsRoll < 0.8
                ? { org: pick(r, [{ roles: ['admins', 'mfa'] }, { roles: 'mfa' }, 'mfa', { roles: { mfa: 1 } }, { other: ['mfa'] }]) }
                : { amr: pick(r, ODD_CLAIMS), groups: pick(r, ODD_CLAIMS), ...(r() < 0.3 ? { iss: 7, sub: 'alice' } : {}) };
  const principal = r() < 0.2 ? undefined : pick(r, CALLERS);
  const host = pick(r, REQ_HOSTS);
  const port = pick(r, [undefined, 80, 8080, 9090]);
  return {
    ...(principal !== undefined ? { principal } : {}),
    method: pick(r, REQ_METHODS),
    path: pick(r, REQ_PATHS),
    ...(host !== undefined ? { host } : {}),
    ...(port !== undefined ? { port } : {}),
    headers,
    ...(claims ? { claims } : {}),
    nowMs: NOW,
  };
}
