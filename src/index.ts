// memlock: counted memory locks for Node.js. The API, by feature.

// Counted locks on memory you have: lock, release, unlock by bytes.
export { lock, unlock, PageLock } from './page-lock';
export type { LockOptions } from './page-lock';
export type { View } from './views';

// memlock's account, the lockable-page limit, and residency.
export { pageSize, stats, lockCounts, residency, setLockablePageLimit, getLockablePageLimit } from './stats';
export type { MemlockStats, Residency } from './stats';

// Whole-process locking that Node survives.
export { lockAll, unlockAll } from './lock-all';
export type { LockAllOptions, LockAllState } from './lock-all';

// Secret memory memlock maps itself.
export { allocSecret, secretStats, SecretBuffer, MAX_SECRET_SIZE } from './secret';
export type { SecretOptions, SecretStats } from './secret';

// Diagnostics: held locks, the kernel's account, channels.
export { locks, verify, setDiagnostics, getDiagnostics } from './diagnostics';
export type { LockInfo, VerifyReport, DiagnosticsOptions } from './diagnostics';
export { kernelStatus } from './kernel-status';
export type { KernelStatus } from './kernel-status';
export type { LockMessage, ReleaseMessage, StickyMessage, LimitMessage, ErrorMessage } from './channels';

// Errors.
export { MemlockError } from './errors';
export type { MemlockErrorCode, MemlockErrorOptions } from './errors';
