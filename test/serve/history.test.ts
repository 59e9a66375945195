/** The history is append-only and atomic: killing a writer at any moment leaves every complete version intact. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { reasonOf } from '../../contracts/problem.js';
import { History } from '../../control/serve/history.js';

function killDuringWrite(state: string, afterSeq: number, extraMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/history-writer.ts', state], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let last = 0;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      for (const line of d.split('\n').filter(Boolean)) {
        if (!line.startsWith('w ')) last = Number(line);
        else if (Number(line.slice(2)) === afterSeq) setTimeout(() => child.kill('SIGKILL'), extraMs);
      }
    });
    child.on('exit', (_code, signal) =>
      signal === 'SIGKILL' ? resolve(last) : reject(new Error(`writer exited without being killed (${signal})`)),
    );
  });
}

test('a writer killed mid-write leaves every complete version readable and the next append continues the sequence', async () => {
  const state = mkdtempSync(join(tmpdir(), 'perimeter-hist-'));
  let seen = 0;
  let interrupted = 0;
  // Kill at several points after a write of a 16 MB blob and its entry has begun.
  for (const [i, extra] of [0, 1, 2, 3, 5, 8].entries()) {
    seen = await killDuringWrite(state, seen + 1 + (i % 2), extra);
    const h = History.open(state);
    interrupted += h.recovered.length > 0 ? 1 : 0;
    const entries = h.entries();
    assert.ok(entries.length >= seen, `${entries.length} entries, writer reported ${seen}`);
    assert.deepEqual(
      entries.map((e) => e.seq),
      entries.map((_, k) => k + 1),
      'contiguous sequence',
    );
    for (const e of entries) {
      const bytes = h.blob(e.workloads[0]?.version as string);
      assert.equal(createHash('sha256').update(bytes).digest('hex').slice(0, 16), e.version, `blob of #${e.seq} intact`);
    }
    assert.deepEqual(
      readdirSync(h.dir).filter((n) => n.includes('.tmp-')),
      [],
      'temporary files cleaned up on open',
    );
    seen = entries.length;
  }
  // The kills did land inside writes (a temporary file was left behind), not only between them.
  assert.ok(interrupted >= 1, `no kill interrupted a write (${interrupted}/6)`);
});

test('versions are found by number or digest prefix; unknown or ambiguous references are errors', () => {
  const h = History.open(mkdtempSync(join(tmpdir(), 'perimeter-hist-')));
  const add = (version: string) =>
    h.append({ version, time: '2026-11-24T00:00:00Z', reason: 'publish', summary: [], workloads: [] }, new Map());
  add('aaaa111100000000');
  add('aaaa222200000000');
  add('bbbb000000000000');
  const value = (ref: string) => {
    const r = h.find(ref);
    assert.ok(r.ok, ref);
    return r.value;
  };
  const problem = (ref: string) => {
    const r = h.find(ref);
    assert.ok(!r.ok, ref);
    return reasonOf(r);
  };
  assert.equal(value('2').version, 'aaaa222200000000');
  assert.equal(value('#3').seq, 3);
  assert.equal(value('bbbb').seq, 3);
  assert.match(problem('aaaa'), /several versions/);
  assert.match(problem('9'), /no version #9/);
  assert.match(problem('cccc'), /no version matches/);
});
