// memlock: counted memory locks for Node.js.
export { MemlockError } from './errors';
export type { MemlockErrorCode, MemlockErrorOptions } from './errors';
export { lock, unlock, PageLock } from './page-lock';
export type { LockOptions } from './page-lock';
export { pageSize, stats, lockCounts, residency } from './inspect';
export type { MemlockStats, Residency } from './inspect';
export { setLockablePageLimit, getLockablePageLimit } from './limit';
export type { View } from './views';
export type { StickyMessage } from './channels';
export { allocSecret, secretStats, SecretBuffer, MAX_SECRET_SIZE } from './secret';
export type { SecretOptions, SecretStats } from './secret';
export { kernelStatus } from './kernel-status';
export type { KernelStatus } from './kernel-status';
export { locks, verify, setDiagnostics, getDiagnostics } from './diagnostics';
export type { LockInfo, VerifyReport, DiagnosticsOptions } from './diagnostics';
export type { LockMessage, ReleaseMessage, LimitMessage, ErrorMessage } from './channels';
export { lockAll, unlockAll } from './lock-all';
export type { LockAllOptions, LockAllState } from './lock-all';
// Memory pressure (PSI) and the paging monitor, loaded on first use:
// importing memlock (in every worker too) does not load them.
import type * as PagingModule from './paging-monitor';
import type * as PressureModule from './pressure';
/** The memory PSI that applies to this process, its faults, VmLck and VmSwap (src/pressure.ts). */
export function pressure(): PressureModule.PressureSnapshot {
  return (require('./pressure') as typeof PressureModule).pressure();
}
/** Starts watching memory pressure and event-loop stalls in this thread (src/paging-monitor.ts). */
export function monitorPaging(options?: PagingModule.PagingMonitorOptions): PagingModule.PagingMonitor {
  return (require('./paging-monitor') as typeof PagingModule).monitorPaging(options);
}
export type { PressureSnapshot, PressureFigures, PressureSourceKind } from './pressure';
export type {
  PagingMonitor, PagingMonitorOptions, PressureTriggerOptions, PressureEvent, StallReport, StallVerdict, PagingMonitorStats,
  PressureKind, TriggerInfo, WatchSource,
} from './paging-monitor';
