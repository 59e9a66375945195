/**
 * What Envoy's HTTP connection manager does to `:path` before any filter runs, with the settings
 * the bootstrap uses: escaped slashes (%2F, %5C) rejected, then RFC 3986 normalisation (dot
 * segments removed), then duplicate slashes merged. The query is left alone.
 */
export type HcmPath = { ok: true; path: string } | { ok: false; details: string };

export function hcmPath(raw: string): HcmPath {
  const q = raw.search(/[?#]/);
  const path = q < 0 ? raw : raw.slice(0, q);
  const rest = q < 0 ? '' : raw.slice(q);
  if (!path.startsWith('/')) return { ok: false, details: 'http1.invalid_url' };
  if (/%(2f|5c)/i.test(path)) return { ok: false, details: 'path_normalization_failed' };
  const out: string[] = [];
  for (const seg of path.split('/').slice(1)) {
    if (seg === '.' || seg === '%2e' || seg === '%2E') continue;
    if (seg === '..' || /^(\.|%2e)(\.|%2e)$/i.test(seg)) out.pop();
    else out.push(seg);
  }
  const last = path.split('/').pop();
  let normalised = `/${out.join('/')}`;
  if ((last === '.' || last === '..') && normalised !== '/') normalised += '/';
  return { ok: true, path: normalised.replace(/\/{2,}/g, '/') + rest };
}
