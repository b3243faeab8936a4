// A Worker running a TypeScript file: tsx's ESM hooks do not reach worker
// threads on Node 20, so the worker registers tsx's CommonJS hook itself.
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function tsWorker(file: string, options: WorkerOptions = {}): Worker {
  const source = `require('tsx/cjs'); require(${JSON.stringify(file)});`;
  return new Worker(source, { ...options, eval: true });
}
