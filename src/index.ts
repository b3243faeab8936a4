// memlock: counted memory locks for Node.js. The API, by feature.

// Counted locks on memory you have: lock, release, unlock by bytes.
export { lock, unlock, PageLock } from './locks/page-lock';
export type { LockOptions } from './locks/page-lock';
export { lockMany, LockGroup } from './locks/lock-group';
export type { View } from './locks/views';

// memlock's account, the lockable-page limit, and residency.
export { pageSize, stats, lockCounts, residency, setLockablePageLimit, getLockablePageLimit } from './locks/stats';
export type { MemlockStats, Residency } from './locks/stats';

// Whole-process locking that Node survives.
export { lockAll, unlockAll } from './locks/lock-all';
export type { LockAllOptions, LockAllState } from './locks/lock-all';

// Secret memory memlock maps itself.
export { allocSecret, secretStats, SecretBuffer, MAX_SECRET_SIZE } from './memory/secret';
export type { SecretOptions, SecretStats, SecretProtection } from './memory/secret';
export type { SecretBackend, SecretBackendFallback } from './memory/secret-backend';
export { hardenProcess, processHardening } from './memory/harden-process';
export type { HardenOptions, HardenResult, HardeningStep, ProcessHardening } from './memory/harden-process';

// Pinned buffers memlock maps itself (huge pages, prefault), and the process's code.
export { allocPinned, pinnedStats, PinnedBuffer, MAX_PINNED_SIZE } from './memory/pinned';
export type { PinnedOptions, PinnedStats, HugePageKind } from './memory/pinned';
export { hugePageSupport } from './memory/huge-pages';
export type { HugePageSupport, HugetlbPool } from './memory/huge-pages';
export { lockCode, CodeLock } from './locks/lock-code';
export type { CodeMapping, LockCodeOptions } from './locks/lock-code';

// Diagnostics: held locks, the kernel's account, channels.
export { locks, locksPage, eachLock, verify, setDiagnostics, getDiagnostics } from './diagnostics/diagnostics';
export type {
  LockInfo,
  LocksPage,
  LocksPageOptions,
  VerifyReport,
  DiagnosticsOptions,
} from './diagnostics/diagnostics';
export { movedPages } from './diagnostics/frames';
export type { MovedPagesReport } from './diagnostics/frames';
export { kernelStatus } from './diagnostics/kernel-status';
export type { KernelStatus } from './diagnostics/kernel-status';
export { subscribeChannel } from './channels';
export type {
  LockMessage,
  ReleaseMessage,
  StickyMessage,
  LimitMessage,
  ErrorMessage,
  SecretBackendMessage,
  V8SandboxMessage,
  V8SandboxLoss,
  MemlockChannels,
  MemlockChannelName,
} from './channels';

// Memory pressure (PSI) and the paging monitor, loaded on first use:
// importing memlock (in every worker too) does not load them.
import type * as PagingModule from './paging/paging-monitor';
import type * as PressureModule from './paging/pressure';
/** The memory PSI that applies to this process, its faults, VmLck and VmSwap (src/paging/pressure.ts). */
export function pressure(): PressureModule.PressureSnapshot {
  return (require('./paging/pressure') as typeof PressureModule).pressure();
}
/** Starts watching memory pressure and event-loop stalls in this thread (src/paging/paging-monitor.ts). */
export function monitorPaging(options?: PagingModule.PagingMonitorOptions): PagingModule.PagingMonitor {
  return (require('./paging/paging-monitor') as typeof PagingModule).monitorPaging(options);
}
export type { PressureSnapshot, PressureFigures, PressureSourceKind } from './paging/pressure';
export type { MigrationCounters, MigrationDelta } from './paging/migrations';
export type {
  PagingMonitor,
  PagingMonitorOptions,
  PagingMonitorEvents,
  PressureTriggerOptions,
  PressureEvent,
  PsiUnavailableEvent,
  CgroupMemoryEvent,
  CgroupMemoryStatus,
  CgroupEventsUnavailableEvent,
  CgroupEventsVia,
  StallReport,
  StallVerdict,
  HostFigures,
  PagingMonitorStats,
  PressureKind,
  TriggerInfo,
  WatchSource,
} from './paging/paging-monitor';

// What this platform can do: every call it cannot honour throws ERR_MEMLOCK_UNSUPPORTED.
export { capabilities } from './capabilities';
export type { Capabilities } from './capabilities';

// Errors.
export { MemlockError } from './errors';
export type { MemlockErrorCode, MemlockLibraryCode, SystemErrorCode, MemlockErrorOptions } from './errors';
