// The kernel's account of a process's locked memory, from /proc.
import { binding } from '../binding';
import { unsupported } from '../capabilities';
import { invalidArgType, outOfRange } from '../errors';
import { mappingCount, maxMapCount, procMemlockLimit, procStatus, smapsLockedBytes } from '../proc';

export interface KernelStatus {
  pid: number;
  /** VmLck: bytes in mlocked mappings (counted when locked, resident or not). */
  vmLckBytes: number;
  /** VmPin: pages pinned by drivers or RDMA, not by mlock. */
  vmPinBytes: number;
  /** Sum of smaps `Locked:`: resident bytes of locked mappings. */
  smapsLockedBytes: number;
  /** RLIMIT_MEMLOCK in bytes; Infinity when unlimited. */
  rlimitMemlock: { soft: number; hard: number };
  /** Whether the process has CAP_IPC_LOCK (then RLIMIT_MEMLOCK does not bind it). */
  capIpcLock: boolean;
  mappings: number;
  maxMappings: number;
}

export function checkPid(pid: unknown, name = 'pid'): number {
  if (typeof pid !== 'number') throw invalidArgType(name, 'of type number', pid);
  if (!Number.isSafeInteger(pid) || pid < 1) throw outOfRange(name, 'an integer >= 1', pid);
  return pid;
}

/** The kernel's own figures for `pid` (default: this process). */
export function kernelStatus(pid: number = process.pid): KernelStatus {
  checkPid(pid);
  if (!binding.platform.kernelAccount) {
    throw unsupported(
      'kernelStatus()',
      "there is no /proc to read the kernel's account from; stats() gives memlock's own",
    );
  }
  const status = procStatus(pid);
  return {
    pid,
    vmLckBytes: status.vmLckBytes,
    vmPinBytes: status.vmPinBytes,
    smapsLockedBytes: smapsLockedBytes(pid),
    rlimitMemlock: procMemlockLimit(pid),
    capIpcLock: status.hasIpcLock,
    mappings: mappingCount(pid),
    maxMappings: maxMapCount(),
  };
}
