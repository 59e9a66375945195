/**
 * SARIF 2.1.0 (OASIS), the log format code-scanning tools read: one run of one tool, its rules,
 * and a result per finding with where it is written. Used by validate, lint and verify.
 */
import { createRequire } from 'node:module';
import { flag } from './flags.js';

/** The output flags of the commands a CI reads: text for people, JSON, or SARIF. */
export const REPORT_FLAGS = {
  json: flag.bool('--json', 'machine-readable output (as --format json)'),
  format: flag.withDefault('--format <format>', 'text, json, or sarif (SARIF 2.1.0, for code scanning)', 'text', ['text', 'json', 'sarif']),
};

export type ReportFormat = 'text' | 'json' | 'sarif';

export const reportFormat = (o: { json?: boolean | undefined; format: string }): ReportFormat =>
  o.json ? 'json' : (o.format as ReportFormat);

export interface SarifRule {
  id: string;
  description: string;
}

export interface SarifLocation {
  file: string;
  line: number;
  column: number;
}

export interface SarifFinding {
  ruleId: string;
  level: 'error' | 'warning' | 'note';
  message: string;
  location?: SarifLocation;
  /** Other places the finding involves (the rule that admits a counterexample). */
  related?: { message: string; location: SarifLocation }[];
}

const VERSION: string = createRequire(import.meta.url)('../../package.json').version;

const physical = (l: SarifLocation) => ({
  physicalLocation: {
    artifactLocation: { uri: l.file.split('/').map(encodeURIComponent).join('/') },
    region: { startLine: Math.max(1, l.line), startColumn: Math.max(1, l.column) },
  },
});

export function sarifLog(command: string, rules: readonly SarifRule[], findings: readonly SarifFinding[]): object {
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'perimeter',
            version: VERSION,
            rules: rules.map((r) => ({ id: r.id, name: r.id, shortDescription: { text: r.description } })),
          },
        },
        automationDetails: { id: `perimeter/${command}/` },
        results: findings.map((f) => ({
          ruleId: f.ruleId,
          ruleIndex: Math.max(
            0,
            rules.findIndex((r) => r.id === f.ruleId),
          ),
          level: f.level,
          message: { text: f.message },
          ...(f.location ? { locations: [physical(f.location)] } : {}),
          ...(f.related?.length
            ? { relatedLocations: f.related.map((r, id) => ({ id, message: { text: r.message }, ...physical(r.location) })) }
            : {}),
        })),
      },
    ],
  };
}

export function printSarif(log: object): void {
  process.stdout.write(`${JSON.stringify(log, null, 2)}\n`);
}
