/** Terminal output: aligned tables and colour only when a person is watching. */
import { printable } from '../../control/flows/recorded.js';

const useColor = (stream: NodeJS.WriteStream = process.stdout) =>
  Boolean(stream.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';

const codes = { red: 31, green: 32, yellow: 33, blue: 34, dim: 2, bold: 1 } as const;
export type Color = keyof typeof codes;

export function paint(text: string, color: Color, stream?: NodeJS.WriteStream): string {
  return useColor(stream) ? `\x1b[${codes[color]}m${text}\x1b[0m` : text;
}

const SGR = /(\x1b\[(?:0|1|2|3[1-4])m)/;
const visible = (s: string) =>
  s
    .split(SGR)
    .filter((_, i) => i % 2 === 0)
    .join('');

/**
 * A cell as it may reach a terminal: the colours paint() made stay, every other control or
 * escape sequence is shown inert (recorded values come from the network).
 */
export function cell(s: string): string {
  return s
    .split(SGR)
    .map((part, i) => (i % 2 === 1 ? part : printable(part)))
    .join('');
}

/** A table with a header row and a rule under it; columns sized to their widest cell. */
export function table(header: readonly string[], unsafeRows: readonly (readonly string[])[]): string {
  const rows = unsafeRows.map((r) => r.map(cell));
  const widths = header.map((h, i) => Math.max(visible(h).length, ...rows.map((r) => visible(r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - visible(c).length)))
      .join('  ')
      .trimEnd();
  return [paint(line(header), 'bold'), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function verdictText(decision: 'allow' | 'deny', enforced: boolean): string {
  if (decision === 'allow') return paint(enforced ? 'ALLOW' : 'ALLOW (not enforced)', 'green');
  return enforced ? paint('DENY', 'red') : paint('WOULD DENY', 'yellow');
}
