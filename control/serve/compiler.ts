/**
 * Loading and compiling a policy happens on a worker thread, so that a large change (20,000
 * rules take seconds) never stops the control server's event loop: health checks, xDS pushes
 * and ACKs keep being answered meanwhile. One worker is kept for the server's life; a change
 * that does not compile within `timeoutMs`, or a worker that dies, is a rejected change (the
 * worker is replaced), never a wedged server.
 */
import { Worker } from 'node:worker_threads';
import type { PolicyView } from './ui-state.js';

export interface CompileRequest {
  id: number;
  paths: readonly string[];
}

export interface CompileResponse {
  id: number;
  /** The policy did not load: its diagnostics, as `perimeter validate` prints them. */
  rejected?: { errors: number; messages: string[] };
  compiled?: {
    version: string;
    trustDomain: string;
    workloads: { name: string; identity: string; version: string; bytes: Uint8Array }[];
    sources: { path: string; text: string }[];
    view: PolicyView;
  };
  /** The worker failed (a bug, or out of memory): the change is refused with this. */
  error?: string;
  seconds: number;
}

export class PolicyCompiler {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (r: CompileResponse) => void; timer: NodeJS.Timeout }>();

  constructor(private readonly timeoutMs = 120_000) {}

  compile(paths: readonly string[]): Promise<CompileResponse> {
    const worker = this.start();
    const id = ++this.nextId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.fail(`compiling took longer than ${this.timeoutMs / 1000} s: the change is refused and the worker restarted`);
      }, this.timeoutMs);
      timer.unref();
      this.waiting.set(id, { resolve, timer });
      worker.postMessage({ id, paths } satisfies CompileRequest);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.fail('the control server is stopping');
    await w?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./compile-worker.mjs', import.meta.url), { execArgv: [] });
    w.unref();
    w.on('message', (r: CompileResponse) => {
      const p = this.waiting.get(r.id);
      if (!p) return;
      clearTimeout(p.timer);
      this.waiting.delete(r.id);
      p.resolve(r);
    });
    w.on('error', (e) => this.fail(`the compile worker failed: ${e.message}`));
    w.on('exit', (code) => {
      if (this.worker === w) this.fail(`the compile worker exited (${code})`);
    });
    this.worker = w;
    return w;
  }

  /** Every pending compile ends with `error`, and the worker is replaced on the next one. */
  private fail(error: string): void {
    const w = this.worker;
    this.worker = undefined;
    void w?.terminate();
    for (const [id, p] of this.waiting) {
      clearTimeout(p.timer);
      p.resolve({ id, error, seconds: 0 });
    }
    this.waiting.clear();
  }
}
