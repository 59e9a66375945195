/** The process that times one engine for the decision suite: argv engine, sizes, quick|full. */
import type { EngineKey } from '../engines/engine.js';
import { timeEngine } from '../suites/decision.js';

const [engine, sizes, mode] = process.argv.slice(2);
const rows = await timeEngine(engine as EngineKey, (sizes as string).split(',').map(Number), mode === 'quick');
process.send?.(rows, () => process.exit(0));
