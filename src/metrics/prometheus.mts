// The ES module entry of memlock/prometheus: named exports only.
export { registerMetrics } from './prometheus.js';
export type * from './prometheus.js';
