/**
 * The architecture rules over one tree: every problem names the importing file, its line and the
 * import, and says which rule it breaks. `node --import tsx test/architecture/check.ts [root]`
 * prints them (exit 1 when there is one).
 */
import { dirname } from 'node:path';
import { CONTRACTS_MAY_NOT_IMPORT, floorOf, OWNED_PACKAGES } from './floors.js';
import { cycles, type Import, importsOf, sourceFiles } from './imports.js';

export function checkArchitecture(root: string): string[] {
  const problems: string[] = [];
  const files = sourceFiles(root);
  const fileEdges = new Map<string, Set<string>>();
  const dirEdges = new Map<string, Set<string>>();
  const add = (m: Map<string, Set<string>>, a: string, b: string) => {
    const s = m.get(a) ?? new Set<string>();
    m.set(a, s);
    if (b) s.add(b);
  };
  const at = (i: Import) => `${i.from}:${i.line} imports ${i.to}`;
  for (const file of files) {
    const floor = floorOf(file);
    if (!floor) {
      problems.push(`${file}: on no floor (add its folder to test/architecture/floors.ts)`);
      continue;
    }
    add(fileEdges, file, '');
    for (const i of importsOf(root, file)) {
      if (!i.local) {
        const owner = OWNED_PACKAGES[i.to];
        if (owner && floor.name !== owner && floor.name !== 'tools') problems.push(`${at(i)}: only the ${owner} floor imports ${i.to}`);
        if (floor.name === 'contracts' && CONTRACTS_MAY_NOT_IMPORT.includes(i.to))
          problems.push(`${at(i)}: the contracts are pure and do no I/O`);
        continue;
      }
      const target = floorOf(i.to);
      if (!target) {
        problems.push(`${at(i)}: the imported file is on no floor`);
        continue;
      }
      if (target.level > floor.level)
        problems.push(`${at(i)}: goes up from ${floor.name} (floor ${floor.level}) to ${target.name} (floor ${target.level})`);
      else if (target.level === floor.level && target.name !== floor.name)
        problems.push(`${at(i)}: ${floor.name} and ${target.name} are peers on floor ${floor.level} and never import each other`);
      add(fileEdges, file, i.to);
      const [da, db] = [dirname(file), dirname(i.to)];
      if (da !== db) add(dirEdges, da, db);
    }
  }
  for (const c of cycles(fileEdges)) problems.push(`file cycle: ${c.join(' → ')}`);
  for (const c of cycles(dirEdges)) problems.push(`folder cycle: ${c.join(' → ')}`);
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const problems = checkArchitecture(process.argv[2] ?? '.');
  for (const p of problems) console.log(p);
  console.log(problems.length ? `${problems.length} architecture problem(s)` : 'architecture: every import goes down a floor, no cycles');
  process.exitCode = problems.length ? 1 : 0;
}
