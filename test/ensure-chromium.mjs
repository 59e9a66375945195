#!/usr/bin/env node
// The web page test drives Debian's chromium through playwright-core (playwright's own browser
// downloads are not reachable from these machines). This finds it and, on a Debian machine
// where we are root, installs it, so that `npm install && npm test` needs nothing else.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function findChromium() {
  return CANDIDATES.find((p) => p && existsSync(p));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (findChromium()) process.exit(0);
  const root = process.getuid?.() === 0;
  const apt = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' }).status === 0;
  if (!root || !apt) {
    process.stderr.write(
      'test/ensure-chromium: no chromium found; the web page test will fail. Install it (Debian: apt-get install chromium) or set CHROMIUM_PATH.\n',
    );
    process.exit(0);
  }
  process.stderr.write('test/ensure-chromium: installing Debian chromium for the web page test (apt-get, about a minute)…\n');
  const run = (args) =>
    spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  run(['update', '-qq']);
  const r = run(['install', '-y', '-qq', '--no-install-recommends', 'chromium']);
  process.stderr.write(
    r.status === 0 && findChromium()
      ? 'test/ensure-chromium: chromium installed\n'
      : 'test/ensure-chromium: apt-get could not install chromium\n',
  );
}
