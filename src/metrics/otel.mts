// The ES module entry of memlock/otel: named exports only.
export { registerOtelMetrics } from './otel.js';
export type * from './otel.js';
