/**
 * A command declared once: its name, arguments and flags in one table that both registers them
 * with commander and gives the type of what the command's function receives. A table key must be
 * the name commander gives the flag (`--admin-port` is `adminPort`); a mismatch fails when the
 * program is built, which every CLI test does.
 */
import { type Command, Option } from 'commander';

interface FlagBase {
  /** As commander takes it: `--port <port>`, `--json`. */
  syntax: string;
  description: string;
}

interface StringFlag extends FlagBase {
  kind: 'string';
  required: boolean;
  default: string | undefined;
  choices: readonly string[] | undefined;
  /** `--no-<name>` turns the flag off: its value is then false. */
  off: string | undefined;
  offDescription: string | undefined;
}

interface ListFlag extends FlagBase {
  kind: 'list';
  required: boolean;
}

interface BoolFlag extends FlagBase {
  kind: 'bool';
}

export type Flag = StringFlag | ListFlag | BoolFlag;

/** A value flag: not required, no default, no choices, no off switch, unless `more` says so. */
function stringFlag<M extends Partial<StringFlag>>(syntax: string, description: string, more: M): StringFlag & M {
  return {
    kind: 'string',
    syntax,
    description,
    required: false,
    default: undefined,
    choices: undefined,
    off: undefined,
    offDescription: undefined,
    ...more,
  };
}

export const flag = {
  /** A value; `undefined` when not given. */
  string: (syntax: string, description: string) => stringFlag(syntax, description, { required: false, default: undefined, off: undefined }),
  /** A value with a default (and optionally a closed set of choices). */
  withDefault: (syntax: string, description: string, value: string, choices?: readonly string[]) =>
    stringFlag(syntax, description, { default: value, choices, off: undefined }),
  required: (syntax: string, description: string) => stringFlag(syntax, description, { required: true, off: undefined }),
  /** A value with a default that `off` (`--no-admin`, described by `offDescription`) turns off. */
  switchable: (syntax: string, description: string, value: string, off: string, offDescription: string) =>
    stringFlag(syntax, description, { default: value, off, offDescription }),
  /** Repeatable: every value, in order; `undefined` when never given. */
  list: (syntax: string, description: string): ListFlag & { required: false } => ({ kind: 'list', syntax, description, required: false }),
  requiredList: (syntax: string, description: string): ListFlag & { required: true } => ({
    kind: 'list',
    syntax,
    description,
    required: true,
  }),
  bool: (syntax: string, description: string): BoolFlag => ({ kind: 'bool', syntax, description }),
};

type ValueOf<F> = F extends ListFlag
  ? F extends { required: true }
    ? string[]
    : string[] | undefined
  : F extends BoolFlag
    ? boolean | undefined
    : F extends { off: string }
      ? string | false
      : F extends { required: true }
        ? string
        : F extends { default: string }
          ? string
          : string | undefined;

export interface Arg {
  /** `<paths...>`, `<from>`, `[spiffe-id]`. */
  syntax: string;
  description: string | undefined;
}

/** A positional argument; its syntax decides its type (`<a...>` a list, `[a]` optional). */
export function arg<S extends string>(syntax: S, description?: string): { syntax: S; description: string | undefined } {
  return { syntax, description };
}

type ArgValue<A> = A extends { syntax: `${string}...>` } ? string[] : A extends { syntax: `[${string}]` } ? string | undefined : string;

export type OptionsOf<F extends Record<string, Flag>, A extends Record<string, Arg> = Record<never, Arg>> = {
  [K in keyof F]: ValueOf<F[K]>;
} & { [K in keyof A]: ArgValue<A[K]> };

export interface CommandSpec<F extends Record<string, Flag>, A extends Record<string, Arg>> {
  /** The words that name it: `['check']`, `['ca', 'init']`. */
  path: readonly string[];
  description: string;
  args?: A;
  flags: F;
  run(options: OptionsOf<F, A>): number | Promise<number>;
}

/** A command of the `perimeter` program, ready to register. */
export interface Registrable {
  path: readonly string[];
  register(program: Command, setExit: (code: number) => void): void;
}

/** Where the server keeps its CA, history and server.json unless told otherwise. */
export const DEFAULT_STATE = process.env.PERIMETER_STATE ?? '.perimeter';

const collect = (value: string, previous: string[] = []) => [...previous, value];

function option(key: string, f: Flag): Option[] {
  const o = new Option(f.syntax, f.description);
  if (o.attributeName() !== key) throw new Error(`flag table key ${key} is not the name of ${f.syntax} (${o.attributeName()})`);
  if (f.kind === 'list') {
    o.argParser(collect);
    if (f.required) o.makeOptionMandatory();
    return [o];
  }
  if (f.kind === 'bool') return [o];
  if (f.required) o.makeOptionMandatory();
  if (f.default !== undefined) o.default(f.default);
  if (f.choices) o.choices(f.choices);
  if (!f.off) return [o];
  return [o, new Option(f.off, f.offDescription)];
}

export function defineCommand<F extends Record<string, Flag>, A extends Record<string, Arg> = Record<never, Arg>>(
  spec: CommandSpec<F, A>,
): Registrable {
  return {
    path: spec.path,
    register(program, setExit) {
      let parent = program;
      for (const word of spec.path.slice(0, -1)) {
        const existing = parent.commands.find((c) => c.name() === word);
        parent = existing ?? parent.command(word);
      }
      const cmd = parent.command(spec.path[spec.path.length - 1] as string).description(spec.description);
      const argNames = Object.keys(spec.args ?? {});
      for (const name of argNames) {
        const a = (spec.args as Record<string, Arg>)[name] as Arg;
        cmd.argument(a.syntax, a.description);
      }
      for (const [key, f] of Object.entries(spec.flags)) for (const o of option(key, f)) cmd.addOption(o);
      cmd.action(async (...values: unknown[]) => {
        const merged: Record<string, unknown> = { ...(values[argNames.length] as Record<string, unknown>) };
        argNames.forEach((name, i) => {
          merged[name] = values[i];
        });
        setExit(await spec.run(merged as OptionsOf<F, A>));
      });
    },
  };
}

/** Descriptions of the command groups (`perimeter ca`, `perimeter envoy`, `perimeter export`). */
export function describeGroup(program: Command, word: string, description: string): void {
  const existing = program.commands.find((c) => c.name() === word);
  (existing ?? program.command(word)).description(description);
}
