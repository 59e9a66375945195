/** Commands declared once: one table registers the flags and types what the command receives. */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Command } from 'commander';
import { buildProgram } from '../../cli/main.js';
import { arg, defineCommand, flag, type Registrable } from '../../cli/support/flags.js';

function capture() {
  let seen: Record<string, unknown> | undefined;
  const cmd = defineCommand({
    path: ['x'],
    description: 'a test command',
    args: { first: arg('<first>'), rest: arg('[rest]') },
    flags: {
      port: flag.string('--port <port>', 'a port'),
      mode: flag.withDefault('--mode <mode>', 'a mode', 'a', ['a', 'b']),
      header: flag.list('--header <k=v>', 'repeatable'),
      admin: flag.switchable('--admin <addr>', 'admin address', '127.0.0.1:1', '--no-admin', 'no admin'),
      json: flag.bool('--json', 'machine-readable'),
    },
    run: (o) => {
      seen = o;
      return 7;
    },
  });
  return { cmd, seen: () => seen };
}

async function run(argv: string[]): Promise<{ code: number; options: Record<string, unknown> | undefined }> {
  const { cmd, seen } = capture();
  let code = -1;
  const program = new Command('t').exitOverride();
  cmd.register(program, (c) => {
    code = c;
  });
  await program.parseAsync(['x', ...argv], { from: 'user' });
  return { code, options: seen() };
}

test('flags and arguments arrive as one object, defaults applied, repeated flags collected', async () => {
  const r = await run(['one', '--header', 'a=1', '--header', 'b=2', '--port', '80']);
  assert.equal(r.code, 7, 'the command’s exit code is what run returned');
  assert.deepEqual(r.options, { first: 'one', rest: undefined, port: '80', mode: 'a', header: ['a=1', 'b=2'], admin: '127.0.0.1:1' });
});

test('a switchable flag is false when turned off; a closed set refuses other values', async () => {
  assert.equal((await run(['one', '--no-admin'])).options?.admin, false);
  await assert.rejects(run(['one', '--mode', 'c']), /Allowed choices are a, b/);
});

test('a table key that is not the flag’s name fails when the command registers', () => {
  const wrong = defineCommand({ path: ['y'], description: '', flags: { adminport: flag.string('--admin-port <p>', '') }, run: () => 0 });
  assert.throws(
    () => wrong.register(new Command('t'), () => {}),
    /flag table key adminport is not the name of --admin-port <p> \(adminPort\)/,
  );
});

test('every file of cli/commands defines commands, and the program registers each of them', async () => {
  const dir = join(import.meta.dirname, '..', '..', 'cli', 'commands');
  const program = buildProgram(() => {});
  const registered = new Set<string>();
  const walk = (c: Command, prefix: string[]) => {
    for (const s of c.commands) {
      const path = [...prefix, s.name()];
      // A command runs something when it has an action: every leaf, and `flows`, which also has `flows import`.
      const acts =
        (s as unknown as { _actionHandler?: unknown })._actionHandler !== undefined &&
        (s as unknown as { _actionHandler?: unknown })._actionHandler !== null;
      if (s.commands.length === 0 || acts) registered.add(path.join(' '));
      walk(s, path);
    }
  };
  walk(program, []);
  const declared = new Set<string>();
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts'))) {
    const mod = (await import(join(dir, f))) as Record<string, unknown>;
    const commands = Object.values(mod).filter((v): v is Registrable => typeof (v as Registrable)?.register === 'function');
    assert.equal(commands.length, 1, `${f} defines exactly one command`);
    for (const c of commands) declared.add(c.path.join(' '));
  }
  assert.deepEqual([...declared].sort(), [...registered].sort());
});
