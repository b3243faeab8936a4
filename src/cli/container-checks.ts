// doctor's container checks: what a container runtime or Kubernetes decided
// for this process, each with the fix in that runtime's own terms: swap
// allowed to its memory cgroup, its memory.high/memory.max against what is
// locked and what the service plans to lock, a user namespace (where no
// capability lifts RLIMIT_MEMLOCK), and a seccomp filter that refuses
// mlock2. Each looks at this process.
import { readKernelFile } from '../kernel-file';
import path from 'node:path';
import { memoryCgroup } from '../paging/cgroup';
import { lock } from '../locks/page-lock';
import { inUserNamespace, USER_NAMESPACE_MEMLOCK_REMEDIES } from '../native-failure';
import { procStatus, readProcFile } from '../proc';
import type { Check, CheckId, CheckStatus } from './check';
import { formatBytes } from './format';

function check(id: CheckId, title: string, status: CheckStatus, finding: string, remedy: string[] = []): Check {
  return { id, title, status, finding, remedy: status === 'pass' ? [] : remedy, error: null };
}

function readNumber(file: string): number | undefined {
  try {
    const text = readKernelFile(file).trim();
    if (text === 'max') return Infinity;
    const n = Number(text);
    return Number.isFinite(n) ? (n >= 2 ** 62 ? Infinity : n) : undefined;
  } catch {
    return undefined;
  }
}

function swapConfigured(): boolean {
  try {
    return readProcFile('/proc/swaps').trim().split('\n').length > 1;
  } catch {
    return false;
  }
}

/**
 * Swap the cgroup allows: v2 memory.swap.max (Kubernetes LimitedSwap sets it
 * in proportion to the memory request; NoSwap sets 0), v1
 * memory.memsw.limit_in_bytes less memory.limit_in_bytes, and swappiness.
 * Locked pages never swap; everything else of the process may.
 */
export function containerSwapCheck(): Check {
  const id = 'container-swap';
  const title = 'swap allowed to the container';
  if (!swapConfigured()) return check(id, title, 'pass', 'no swap areas: nothing of the container can be swapped');
  const mc = memoryCgroup('self');
  if (!mc) return check(id, title, 'pass', 'no memory cgroup: the system swap settings apply (see the swap check)');
  let allowed: number | undefined;
  let how: string;
  if (mc.version === 2) {
    allowed = readNumber(path.join(mc.dir, 'memory.swap.max'));
    how = `memory.swap.max ${allowed === undefined ? 'unreadable' : allowed === Infinity ? 'max' : formatBytes(allowed)}`;
  } else {
    const memsw = readNumber(path.join(mc.dir, 'memory.memsw.limit_in_bytes'));
    const swappiness = readNumber(path.join(mc.dir, 'memory.swappiness'));
    allowed =
      swappiness === 0
        ? 0
        : memsw === undefined
          ? Infinity
          : memsw === Infinity
            ? Infinity
            : Math.max(0, memsw - mc.limitBytes);
    how = `memory.swappiness ${swappiness ?? '?'}, memory.memsw.limit_in_bytes ${memsw === undefined ? 'absent' : memsw === Infinity ? 'unlimited' : formatBytes(memsw)}`;
  }
  if (allowed === 0) return check(id, title, 'pass', `cgroup v${mc.version} ${mc.path}: no swap allowed (${how})`);
  return check(
    id,
    title,
    'warn',
    `cgroup v${mc.version} ${mc.path}: the container may swap ${allowed === Infinity ? 'without a limit' : `up to ${formatBytes(allowed ?? 0)}`} (${how}): what is not locked can be paged out`,
    [
      'lock what must stay resident (lock(), allocPinned(), lockCode()), or allow the container no swap:',
      'Kubernetes: the kubelet memorySwap.swapBehavior NoSwap (LimitedSwap gives Burstable pods swap in proportion to their request; Guaranteed pods get none)',
      'docker: --memory-swap equal to --memory (or --memory-swappiness 0)',
      'systemd: MemorySwapMax=0',
    ],
  );
}

/**
 * What is locked now (VmLck) plus what the service plans to lock (--size)
 * against memory.high (throttled and reclaimed hard there; locked pages
 * cannot be reclaimed) and the limit (memory.max / limit_in_bytes: the OOM
 * killer). Warns past 80% of the limit: the rest of the process needs room.
 */
export function containerMemoryCheck(sizeBytes: number): Check {
  const id = 'container-memory';
  const title = 'locked memory vs memory.high/max';
  const mc = memoryCgroup('self');
  if (!mc) return check(id, title, 'pass', 'no memory cgroup: no container memory limit');
  const locked = procStatus('self').vmLckBytes;
  const planned = locked + sizeBytes;
  const what = `locked now ${formatBytes(locked)} + --size ${formatBytes(sizeBytes)} = ${formatBytes(planned)}`;
  const limit = mc.limitBytes === Infinity ? 'no limit' : `limit ${formatBytes(mc.limitBytes)}`;
  const high = mc.highBytes === Infinity ? '' : `, memory.high ${formatBytes(mc.highBytes)}`;
  const where = `cgroup v${mc.version} ${mc.path}: ${what}; ${limit}${high}`;
  const raise = [
    'Kubernetes: raise resources.limits.memory (memory.max) and requests (memory.high follows the limit with MemoryQoS)',
    'docker: --memory (memory.max); systemd: MemoryMax= / MemoryHigh=',
    'or lock less: what is locked is charged to the cgroup and never reclaimed',
  ];
  if (planned >= mc.limitBytes)
    return check(
      id,
      title,
      'fail',
      `${where}: the locked set alone reaches the limit: the OOM killer ends the process`,
      raise,
    );
  if (planned >= mc.highBytes)
    return check(
      id,
      title,
      'warn',
      `${where}: over memory.high: the cgroup is throttled, and only its unlocked memory can be reclaimed`,
      raise,
    );
  if (mc.limitBytes !== Infinity && planned > 0.8 * mc.limitBytes)
    return check(id, title, 'warn', `${where}: over 80% of the limit, little room for the rest of the process`, raise);
  return check(id, title, 'pass', where);
}

/** A user namespace: CAP_IPC_LOCK there does not lift RLIMIT_MEMLOCK (mm/mlock.c capable() is the initial namespace's). */
export function userNamespaceCheck(): Check {
  const id = 'user-namespace';
  const title = 'user namespace';
  if (!inUserNamespace())
    return check(id, title, 'pass', 'the initial user namespace: CAP_IPC_LOCK, where held, lifts RLIMIT_MEMLOCK');
  return check(
    id,
    title,
    procStatus('self').hasIpcLock ? 'warn' : 'pass',
    'in a user namespace (rootless container, Kubernetes hostUsers: false): CAP_IPC_LOCK does not lift RLIMIT_MEMLOCK here',
    [...USER_NAMESPACE_MEMLOCK_REMEDIES],
  );
}

/**
 * A seccomp filter (/proc/self/status Seccomp: 2) may refuse mlock2 (lock's
 * onFault) or memfd_secret: mlock2 is tried (a page, on fault).
 */
export function seccompCheck(): Check {
  const id = 'seccomp';
  const title = 'seccomp';
  const status = readProcFile('/proc/self/status');
  const mode = Number(/^Seccomp:\s*(\d+)/m.exec(status)?.[1] ?? 0);
  const filters = Number(/^Seccomp_filters:\s*(\d+)/m.exec(status)?.[1] ?? 0);
  let mlock2 = 'accepted';
  try {
    lock(new Uint8Array(4096), { onFault: true }).release();
  } catch (error) {
    mlock2 = `refused (${(error as { code?: string }).code ?? (error as Error).message})`;
  }
  const seen = mode === 0 ? 'no seccomp filter' : mode === 1 ? 'strict seccomp' : `${filters} seccomp filter(s)`;
  const finding = `${seen}; mlock2 (lock with onFault) ${mlock2}`;
  if (mlock2 === 'accepted') return check(id, title, 'pass', finding);
  return check(id, title, mode === 2 ? 'fail' : 'warn', finding, [
    'allow mlock, mlock2, munlock, mlockall, munlockall, madvise and memfd_secret in the profile:',
    'docker: --security-opt seccomp=profile.json (the default profile allows mlock*; a custom one may not)',
    "Kubernetes: securityContext.seccompProfile: { type: Localhost, localhostProfile: <that profile> } (RuntimeDefault is the runtime's default)",
    'systemd: SystemCallFilter= must include @memlock (and memfd_secret)',
  ]);
}
