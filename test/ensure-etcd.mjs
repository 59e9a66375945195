#!/usr/bin/env node
// The HA tests start a real 3-member etcd cluster from Debian's etcd-server (etcd 3.4). This
// finds the binary and, on a Debian machine where we are root, installs it, so that
// `npm install && npm test` needs nothing else.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CANDIDATES = [process.env.ETCD_PATH, '/usr/bin/etcd', '/usr/local/bin/etcd'];

export function findEtcd() {
  return CANDIDATES.find((p) => p && existsSync(p));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (findEtcd()) process.exit(0);
  const root = process.getuid?.() === 0;
  const apt = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' }).status === 0;
  if (!root || !apt) {
    process.stderr.write(
      'test/ensure-etcd: no etcd found; the etcd tests will fail. Install it (Debian: apt-get install etcd-server) or set ETCD_PATH.\n',
    );
    process.exit(0);
  }
  process.stderr.write('test/ensure-etcd: installing Debian etcd-server for the HA tests (apt-get)…\n');
  const run = (args) =>
    spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  let r = run(['install', '-y', '-qq', '--no-install-recommends', 'etcd-server']);
  if (r.status !== 0) {
    run(['update', '-qq']);
    r = run(['install', '-y', '-qq', '--no-install-recommends', 'etcd-server']);
  }
  // Debian's package starts a system etcd on the default ports; the tests use their own, on free ports.
  spawnSync('sh', ['-c', 'command -v systemctl >/dev/null && systemctl disable --now etcd 2>/dev/null; pkill -x etcd 2>/dev/null || true']);
  process.stderr.write(
    r.status === 0 && findEtcd() ? 'test/ensure-etcd: etcd installed\n' : 'test/ensure-etcd: apt-get could not install etcd-server\n',
  );
}
