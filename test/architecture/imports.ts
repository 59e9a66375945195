/**
 * Every import of the tree as an edge: the TypeScript compiler's own pre-processor reads the
 * specifiers (static, dynamic, re-exports, `import type`), so nothing a regular expression would
 * miss (a multi-line import, a string that looks like one) decides the result.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import ts from 'typescript';

export interface Import {
  from: string;
  /** A project file (relative to the root) or a package / builtin name. */
  to: string;
  local: boolean;
  line: number;
}

const SKIP_DIRS = new Set(['node_modules', '.git', 'build', 'results']);
const SOURCE = /\.(ts|mts|mjs|js)$/;

/** Source files under `root`, relative to it; generated code is a floor but its own imports are not read. */
export function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      const p = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name) && p !== 'proto/gen') walk(p);
      } else if (SOURCE.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  walk('');
  return out.sort();
}

function resolveLocal(root: string, from: string, spec: string): string {
  const base = normalize(join(dirname(from), spec));
  for (const candidate of [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, join(base, 'index.ts')])
    if (existsSync(join(root, candidate))) return candidate;
  return base;
}

export function importsOf(root: string, file: string): Import[] {
  const text = readFileSync(join(root, file), 'utf8');
  const info = ts.preProcessFile(text, true, true);
  const lineOf = (pos: number) => text.slice(0, pos).split('\n').length;
  return info.importedFiles.map((i) => {
    const local = i.fileName.startsWith('.');
    return {
      from: file,
      to: local ? relative('.', resolveLocal(root, file, i.fileName)) : i.fileName,
      local,
      line: lineOf(i.pos),
    };
  });
}

/** Strongly connected components of more than one node (or a node importing itself): the cycles. */
export function cycles(edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  let index = 0;
  const stack: string[] = [];
  const on = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || edges.get(v)?.has(v)) out.push(scc.sort());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}
