/** SARIF logs checked against the published SARIF 2.1.0 JSON schema (OASIS rtm.5, as schemastore serves it). */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// Both are CommonJS modules whose export is the function itself.
const require = createRequire(import.meta.url);
const Ajv: typeof import('ajv-draft-04').default = require('ajv-draft-04');
const addFormats: typeof import('ajv-formats').default = require('ajv-formats');
const schema = JSON.parse(readFileSync(require.resolve('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json'), 'utf8'));
// The schema writes one pattern that is valid only without the u flag.
const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
addFormats(ajv);
const validate = ajv.compile(schema);

/** The schema's complaints about a log, none when it is valid SARIF 2.1.0. */
export function sarifProblems(log: unknown): string[] {
  return validate(log) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}
