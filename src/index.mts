// The ES module entry: memlock's named exports and nothing else (no
// `default`, no `__esModule`), re-exported from the CommonJS build.
// test/module.test.ts checks it lists every export of src/index.ts.
export {
  MemlockError,
  lock,
  unlock,
  PageLock,
  pageSize,
  stats,
  lockCounts,
  residency,
  setLockablePageLimit,
  getLockablePageLimit,
  lockAll,
  unlockAll,
  allocSecret,
  secretStats,
  SecretBuffer,
  MAX_SECRET_SIZE,
  locks,
  verify,
  setDiagnostics,
  getDiagnostics,
  kernelStatus,
  pressure,
  monitorPaging,
} from './index.js';
export type * from './index.js';
