/** What every benchmark suite returns; bench/run.ts turns it into JSON and Markdown. */
export interface Row {
  name: string;
  unit: string;
  median: number;
  min?: number;
  max?: number;
  p99?: number;
  samples: number;
  extra?: Record<string, number | string>;
}

export interface Budget {
  name: string;
  limit: number;
  unit: string;
  measured: number;
  met: boolean;
}

export interface SuiteResult {
  suite: string;
  rows: Row[];
  budgets: Budget[];
}

export interface Machine {
  cpus: number;
  model: string;
  memoryGiB: number;
  platform: string;
  node: string;
  v8: string;
  /** The commit measured (`+changes` when the work tree differed). */
  commit: string;
  versions: Record<string, string>;
}

/** One suite's latest result as bench/results/latest.json keeps it. */
export interface StoredSuite {
  date: string;
  quick: boolean;
  /** Node flags the suite's process ran with. */
  flags: string[];
  seconds: number;
  result: SuiteResult;
}

export interface Store {
  machine: Machine;
  suites: Record<string, StoredSuite>;
}
