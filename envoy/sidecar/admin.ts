/**
 * The local sidecar's admin endpoint, on loopback as Envoy's: `/stats/prometheus` (the module's
 * counters as Envoy renders custom Wasm stats, plus the sidecar's own state), `/ready` (200 once a
 * policy is in force, like Envoy's readiness once its listeners are warm).
 */
import { createServer, type Server } from 'node:http';

export interface AdminSource {
  prometheus(): string;
  hasPolicy(): boolean;
  connected(): boolean;
}

export function startAdmin(src: AdminSource, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/stats/prometheus' || path === '/metrics') {
      const own = [
        '# TYPE perimeter_sidecar_policy_present gauge',
        `perimeter_sidecar_policy_present ${src.hasPolicy() ? 1 : 0}`,
        '# TYPE perimeter_sidecar_control_plane_connected gauge',
        `perimeter_sidecar_control_plane_connected ${src.connected() ? 1 : 0}`,
        '',
      ].join('\n');
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(src.prometheus() + own);
    } else if (path === '/ready') {
      const ok = src.hasPolicy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'LIVE\n' : 'no policy yet\n');
    } else res.writeHead(404, { 'content-type': 'text/plain' }).end('try /stats/prometheus or /ready\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
