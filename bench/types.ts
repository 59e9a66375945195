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
