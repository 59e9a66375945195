/** The policy watcher: every save is seen, however the editor saves (in place, by rename, in a new subdirectory). */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { watchPaths } from '../../control/serve/watch.js';
import { eventually } from '../helpers/xds.js';

test('saves by rename are seen every time, and so are files in new subdirectories; other files are not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-watch-'));
  writeFileSync(join(dir, 'a.yaml'), 'a: 0\n');
  let fired = 0;
  const stop = watchPaths([dir], { debounceMs: 20 }, () => {
    fired++;
  });
  try {
    for (let i = 1; i <= 3; i++) {
      // As vim, and perimeter promote, save: a temporary file renamed over the original.
      writeFileSync(join(dir, 'a.yaml.tmp-1'), `a: ${i}\n`);
      renameSync(join(dir, 'a.yaml.tmp-1'), join(dir, 'a.yaml'));
      await eventually(() => fired === i, 2_000, `save ${i} seen`);
    }
    mkdirSync(join(dir, 'team'));
    await new Promise((r) => setTimeout(r, 100));
    const before = fired;
    writeFileSync(join(dir, 'team', 'b.yaml'), 'b: 1\n');
    await eventually(() => fired > before, 2_000, 'a file in a new subdirectory');
    const settled = fired;
    writeFileSync(join(dir, 'notes.txt'), 'not policy\n');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(fired, settled, 'a non-YAML file does not reload the policy');
  } finally {
    stop();
  }
});
