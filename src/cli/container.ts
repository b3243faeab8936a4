// `memlock doctor`'s container checks: the memory cgroup's limit against what
// would be locked, its protection, whether CAP_IPC_LOCK is really effective,
// PSI and its triggers, and the hypervisor under the guest. Each check looks
// at this process, like the rest of doctor.
import { readKernelFile } from '../kernel-file';
import { memoryCgroup, type MemoryCgroup } from '../paging/cgroup';
import type { Check, CheckId, CheckStatus } from './check';
import { formatBytes } from './format';
import { lock } from '../locks/page-lock';
import { psiAbsence, pressureSource } from '../paging/pressure';
import { procMemlockLimit, procStatus, readProcFile } from '../proc';
import { hasSysResource, probeTrigger } from '../paging/psi-trigger';
import { balloonCounters, balloonDevices, cpuTimes } from '../paging/host-signals';
import { inUserNamespace, USER_NAMESPACE_MEMLOCK_REMEDIES } from '../native-failure';

const MiB = 1024 * 1024;
const CAP_IPC_LOCK = 14n;

function check(id: CheckId, title: string, status: CheckStatus, finding: string, remedy: string[] = []): Check {
  return { id, title, status, finding, remedy: status === 'pass' ? [] : remedy, error: null };
}

const LIMIT_REMEDY = [
  'raise the memory limit: docker run --memory, Kubernetes resources.limits.memory, systemd MemoryMax= (v2) / MemoryLimit= (v1)',
  'or lock less (--size is what the service would lock): keep the locked set well under the limit',
];

function where(mc: MemoryCgroup): string {
  return `cgroup v${mc.version} ${mc.path}`;
}

export interface CgroupLimitCheck {
  check: Check;
  /** Locking --size would take the cgroup over its limit: doctor does not try it. */
  wouldExceed: boolean;
}

/**
 * Locked pages are charged to the memory cgroup and cannot be reclaimed, so
 * what may be locked is the limit less what the cgroup holds that reclaim
 * cannot take back (all but its page cache). Past that the kernel's OOM
 * killer ends the process.
 */
export function cgroupLimitCheck(sizeBytes: number): CgroupLimitCheck {
  const id = 'cgroup-limit';
  const title = 'memory cgroup limit';
  const mc = memoryCgroup('self');
  if (!mc)
    return {
      check: check(id, title, 'pass', 'no memory cgroup controller here: no cgroup limit applies'),
      wouldExceed: false,
    };
  const unreclaimable = Math.max(0, mc.usageBytes - mc.fileBytes);
  const high = mc.highBytes === Infinity ? '' : `, memory.high ${formatBytes(mc.highBytes)}`;
  if (mc.limitBytes === Infinity) {
    if (mc.highBytes !== Infinity && unreclaimable + sizeBytes > mc.highBytes) {
      return {
        check: check(
          id,
          title,
          'warn',
          `${where(mc)}: no limit, but locking ${formatBytes(sizeBytes)} with ${formatBytes(unreclaimable)} already unreclaimable ` +
            `goes over memory.high ${formatBytes(mc.highBytes)}: the cgroup is throttled and reclaimed hard, and locked pages cannot be reclaimed`,
          ['raise memory.high (systemd MemoryHigh=), or lock less'],
        ),
        wouldExceed: false,
      };
    }
    return { check: check(id, title, 'pass', `${where(mc)}: no memory limit${high}`), wouldExceed: false };
  }
  const limitOf = mc.limitDir && mc.limitDir !== mc.dir ? ` (set on ${mc.limitDir})` : '';
  const lockable = mc.limitBytes - unreclaimable;
  const facts =
    `${where(mc)}: limit ${formatBytes(mc.limitBytes)}${limitOf}${high}, ${formatBytes(mc.usageBytes)} charged ` +
    `(${formatBytes(mc.fileBytes)} of it page cache)`;
  if (sizeBytes > lockable) {
    return {
      check: check(
        id,
        title,
        'fail',
        `${facts}: locking ${formatBytes(sizeBytes)} would take it over the limit, and locked pages cannot be reclaimed: ` +
          'the OOM killer would end the process (the test lock was not tried)',
        LIMIT_REMEDY,
      ),
      wouldExceed: true,
    };
  }
  const spare = lockable - sizeBytes;
  const margin = Math.max(64 * MiB, mc.limitBytes / 10);
  if (spare < margin) {
    return {
      check: check(
        id,
        title,
        'warn',
        `${facts}: locking ${formatBytes(sizeBytes)} leaves ${formatBytes(spare)} for everything else (heap growth, page cache); ` +
          'close to the limit, a locked process is OOM-killed instead of paged',
        LIMIT_REMEDY,
      ),
      wouldExceed: false,
    };
  }
  if (mc.highBytes !== Infinity && unreclaimable + sizeBytes > mc.highBytes) {
    return {
      check: check(
        id,
        title,
        'warn',
        `${facts}: locking ${formatBytes(sizeBytes)} goes over memory.high: the cgroup is throttled and reclaimed hard`,
        ['raise memory.high (systemd MemoryHigh=), or lock less'],
      ),
      wouldExceed: false,
    };
  }
  return {
    check: check(id, title, 'pass', `${facts}: ${formatBytes(sizeBytes)} fits, with ${formatBytes(spare)} to spare`),
    wouldExceed: false,
  };
}

export function cgroupProtectionCheck(): Check {
  const id = 'cgroup-protection';
  const title = 'memory.min/low';
  const mc = memoryCgroup('self');
  if (!mc) return check(id, title, 'pass', 'no memory cgroup here');
  if (mc.version === 1) {
    const soft =
      mc.softLimitBytes === undefined || mc.softLimitBytes === Infinity ? 'none' : formatBytes(mc.softLimitBytes);
    return check(
      id,
      title,
      'pass',
      `${where(mc)} has no memory.min/low (v2 only); memory.soft_limit_in_bytes: ${soft}. Locked pages are never reclaimed; the rest may be`,
    );
  }
  const min = mc.minBytes ?? 0;
  const low = mc.lowBytes ?? 0;
  if (min === 0 && low === 0) {
    return check(
      id,
      title,
      'pass',
      `${where(mc)}: no protection (memory.min and memory.low 0): under pressure from outside the cgroup its unlocked pages ` +
        'are reclaimed like any other; locked pages stay',
    );
  }
  return check(
    id,
    title,
    'pass',
    `${where(mc)}: memory.min ${formatBytes(min)}, memory.low ${formatBytes(low)} protected from outside reclaim ` +
      '(effective only if every ancestor grants as much); locked pages stay regardless',
  );
}

function capabilities(): { eff: bigint; prm: bigint; bnd: bigint; amb: bigint; uid: number; noNewPrivs: boolean } {
  const text = readProcFile('/proc/self/status');
  const hex = (key: string) => BigInt(`0x${new RegExp(`^${key}:\\s*([0-9a-f]+)$`, 'm').exec(text)?.[1] ?? '0'}`);
  return {
    eff: hex('CapEff'),
    prm: hex('CapPrm'),
    bnd: hex('CapBnd'),
    amb: hex('CapAmb'),
    uid: Number(/^Uid:\s*\d+\s+(\d+)/m.exec(text)?.[1] ?? -1),
    noNewPrivs: /^NoNewPrivs:\s*1$/m.test(text),
  };
}

const has = (set: bigint): boolean => ((set >> CAP_IPC_LOCK) & 1n) === 1n;

/**
 * "Added" to a container is not the same as effective: the runtime puts a
 * capability in the bounding set (and root's sets), but a non-root user
 * starts with empty permitted and effective sets unless the capability is
 * ambient or on the binary (setcap), which no_new_privs also rules out.
 */
export function capabilityEffectiveCheck(): Check {
  const id = 'cap-effective';
  const title = 'CAP_IPC_LOCK effective';
  const caps = capabilities();
  if (has(caps.eff) && inUserNamespace())
    return check(
      id,
      title,
      'warn',
      `in the effective set (uid ${caps.uid}), but this process runs in a user namespace: the kernel counts CAP_IPC_LOCK ` +
        'only in the initial one, so RLIMIT_MEMLOCK binds it',
      [...USER_NAMESPACE_MEMLOCK_REMEDIES],
    );
  if (has(caps.eff))
    return check(id, title, 'pass', `in the effective set (uid ${caps.uid}${has(caps.amb) ? ', ambient' : ''})`);
  if (!has(caps.bnd)) {
    return check(
      id,
      title,
      'pass',
      'not granted to this process at all (not in its bounding set): only RLIMIT_MEMLOCK allows locking',
    );
  }
  const remedy = [
    'systemd: AmbientCapabilities=CAP_IPC_LOCK (with User=) in the unit',
    `on the binary: setcap cap_ipc_lock+ep "$(command -v node)"${caps.noNewPrivs ? ' (not with no_new_privs, which is set here)' : ''}`,
    'a wrapper: setpriv --inh-caps=+ipc_lock --ambient-caps=+ipc_lock node ... (needs the capability in its permitted set)',
    'or do without it: raise RLIMIT_MEMLOCK (docker --ulimit memlock=-1:-1; systemd LimitMEMLOCK=)',
  ];
  if (caps.uid !== 0) {
    return check(
      id,
      title,
      'warn',
      `in the bounding set (the container "added" it) but not effective: uid ${caps.uid} is not root, and a non-root process ` +
        'starts with an empty effective set; RLIMIT_MEMLOCK binds it',
      remedy,
    );
  }
  return check(
    id,
    title,
    'warn',
    `root, but CAP_IPC_LOCK is not in its effective set${has(caps.prm) ? ' (it is permitted: something dropped it from effective)' : ''}; ` +
      'RLIMIT_MEMLOCK binds it',
    ['Kubernetes: remove IPC_LOCK from securityContext.capabilities.drop, or add it', ...remedy],
  );
}

// The fix depends on why PSI is missing: a kernel without it, PSI turned
// off at boot, or a container that hides what the kernel has.
const PSI_REMEDY: Record<NonNullable<ReturnType<typeof psiAbsence>>['kind'], string[]> = {
  'no-psi': [
    'Linux >= 4.20 built with CONFIG_PSI; kernels built with CONFIG_PSI_DEFAULT_DISABLED need psi=1 on the kernel command line',
  ],
  disabled: ['boot with psi=1 on the kernel command line: the kernel has PSI, turned off'],
  hidden: [
    'the kernel has PSI but this container does not show it: unmask /proc/pressure in the runtime (Docker: --security-opt systempaths=unconfined; Kubernetes: securityContext.procMount: Unmasked), or let the security policy allow reading it',
    "or mount the cgroup2 file system in the container (its memory.pressure is used), or pass the service manager's (MemoryPressureWatch=on)",
  ],
  unreadable: ['see the reason; run memlock doctor as the service runs'],
};

/** `source` and `root` (standing for /) are for tests. */
export function psiCheck(source = pressureSource('self'), root = '/'): Check {
  const id = 'psi';
  const title = 'PSI';
  if (source.kind === 'unavailable') {
    return check(
      id,
      title,
      'warn',
      `no memory pressure information: ${source.reason}; monitorPaging() watches faults and event-loop stalls only`,
      PSI_REMEDY[psiAbsence(root)?.kind ?? 'unreadable'],
    );
  }
  const spec = { kind: 'some' as const, thresholdUs: 100_000, windowUs: 2_000_000 };
  const armed = probeTrigger(source.path, spec);
  const rounding = hasSysResource()
    ? 'any window from 0.5 to 10 s'
    : 'windows of whole 2 s only (no CAP_SYS_RESOURCE; shorter ones are rounded up)';
  if (armed.ok)
    return check(
      id,
      title,
      'pass',
      `memory PSI of the ${source.kind} (${source.path}); a trigger (some 100 ms per 2 s) arms: ${rounding}`,
    );
  if (source.kind === 'cgroup') {
    const system = probeTrigger('/proc/pressure/memory', spec);
    if (system.ok) {
      return check(
        id,
        title,
        'pass',
        `memory PSI of the cgroup (${source.path}) is readable but takes no trigger (${armed.reason}); monitorPaging() arms the system's instead: ${rounding}`,
      );
    }
  }
  return check(
    id,
    title,
    'warn',
    `memory PSI of the ${source.kind} is readable, but no trigger can be armed: ${armed.reason}`,
    [
      // A trigger is armed by writing to the file: a read-only /proc or cgroupfs refuses it.
      ...(/EROFS|EACCES|EPERM/.test(armed.reason)
        ? [
            'the file is read-only to this process (a read-only /proc or cgroup mount in a container): docker --security-opt systempaths=unconfined, Kubernetes securityContext.procMount: Unmasked, or let the service manager arm it (below)',
          ]
        : []),
      'Linux >= 6.5 lets unprivileged processes arm triggers with windows of whole 2 s; older kernels need CAP_SYS_RESOURCE',
      'or let systemd arm it: MemoryPressureWatch=on in the unit (monitorPaging() reads $MEMORY_PRESSURE_WATCH)',
      'pressure() and monitorPaging() still read the totals and watch event-loop stalls',
    ],
  );
}

function hypervisorName(): string | undefined {
  const read = (file: string): string | undefined => {
    try {
      return readKernelFile(file).replace(/\0/g, '').trim() || undefined;
    } catch {
      return undefined;
    }
  };
  const xen = read('/sys/hypervisor/type');
  if (xen) return xen;
  const vendor = read('/sys/class/dmi/id/sys_vendor');
  const product = read('/sys/class/dmi/id/product_name');
  const cpuFlag = /^flags\s*:.*\bhypervisor\b/m.test(read('/proc/cpuinfo') ?? '');
  const dmi = [vendor, product].filter(Boolean).join(' ');
  const known =
    /qemu|kvm|vmware|virtualbox|xen|microsoft|amazon ec2|google compute|bochs|parallels|openstack|cloud hypervisor|firecracker/i;
  if (dmi && known.test(dmi)) return dmi;
  if (cpuFlag) return dmi ? `${dmi} (CPU flag "hypervisor")` : 'unnamed (CPU flag "hypervisor")';
  const dt = read('/sys/firmware/devicetree/base/hypervisor/compatible');
  return dt;
}

/** First read of each page right after lock(), then a second read, in ns per page, and the guest faults taken. */
function firstTouchAfterLock(pages: number): { firstNs: number; laterNs: number; faults: number } {
  const pageSize = 4096;
  const view = new Uint8Array(new ArrayBuffer(pages * pageSize));
  const held = lock(view);
  try {
    let sum = 0;
    const faults = process.resourceUsage().minorPageFault + process.resourceUsage().majorPageFault;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < pages; i += 1) sum += view[i * pageSize]!;
    const t1 = process.hrtime.bigint();
    const after = process.resourceUsage().minorPageFault + process.resourceUsage().majorPageFault;
    for (let i = 0; i < pages; i += 1) sum += view[i * pageSize + 64]!;
    const t2 = process.hrtime.bigint();
    if (sum !== 0) throw new Error('fresh memory was not zero');
    return { firstNs: Number(t1 - t0) / pages, laterNs: Number(t2 - t1) / pages, faults: after - faults };
  } finally {
    held.release();
  }
}

/**
 * On a VM, what mlock does and does not protect from. The status rests on
 * what is stable for the boot (the hypervisor flag, balloon devices and
 * counters, steal time since boot), never on the first-touch measurement:
 * whether freshly locked pages happen to be backed by the host depends on
 * which guest pages the kernel hands out, and made this check flap between
 * pass and warn on one machine. The measurement is reported as evidence.
 */
export function hypervisorCheck(canLockBytes: number): Check {
  const id = 'hypervisor';
  const title = 'hypervisor';
  const name = hypervisorName();
  if (!name)
    return check(
      id,
      title,
      'pass',
      'none detected (bare metal, or a hypervisor that hides itself): locked memory is host memory',
    );
  const evidence: string[] = [];
  const balloons = balloonDevices();
  if (balloons.length > 0) evidence.push(`a balloon device (${balloons.join(', ')})`);
  const balloon = balloonCounters();
  if (balloon && (balloon.inflate > 0 || balloon.pages > 0))
    evidence.push(`the balloon has inflated (${balloon.inflate} pages since boot, ${balloon.pages} held now)`);
  const cpu = cpuTimes();
  const stealShare = cpu && cpu.totalMs > 0 ? cpu.stealMs / cpu.totalMs : 0;
  if (stealShare >= 0.01)
    evidence.push(`${(stealShare * 100).toFixed(1)}% of CPU time since boot was stolen by the host`);
  let measured = 'first touch after lock() not measured (cannot lock 4 MiB here)';
  const pages = 1024;
  if (canLockBytes >= pages * 4096) {
    try {
      const m = firstTouchAfterLock(pages);
      const us = (ns: number) => `${(ns / 1000).toFixed(ns < 1000 ? 2 : 1)} us`;
      const lazy = m.firstNs > 1000 && m.firstNs > 3 * m.laterNs && m.faults === 0;
      measured =
        `the first read of each page right after lock() took ${us(m.firstNs)}, a second read ${us(m.laterNs)}` +
        `${m.faults === 0 ? ', with no guest page fault' : ''}` +
        // Evidence, not the status: see above.
        (lazy ? ' (the host backed these pages only when first read)' : '');
    } catch (error) {
      measured = `first touch after lock() not measured: ${(error as Error).message}`;
    }
  }
  const protects =
    'locking pins guest memory: the guest kernel will not swap or reclaim it; it does not stop the host from ' +
    'swapping, reclaiming or lazily backing guest RAM, nor a balloon from squeezing the rest of the guest';
  const finding = `${name}: ${protects}. Found: ${evidence.length > 0 ? evidence.join('; ') : 'no balloon, no steal'}; ${measured}`;
  if (evidence.length === 0) return check(id, title, 'pass', finding);
  return check(id, title, 'warn', finding, [
    'touch every locked page once right after lock() (read a byte per page) before latency-critical use',
    'ask for guest memory the host does not reclaim or back lazily: no memory overcommit or ballooning; preallocated, ' +
      'locked or hugepage-backed guest RAM (QEMU: -overcommit mem-lock=on, -mem-prealloc; a dedicated-host or ' +
      'non-burstable instance type in a cloud)',
    "monitorPaging() attributes stalls to 'host' where the guest can see it (stolen time without a guest fault)",
  ]);
}

/** What this process may lock now, by RLIMIT_MEMLOCK and CAP_IPC_LOCK (for the hypervisor measurement). */
export function lockableNow(): number {
  if (procStatus('self').hasIpcLock && !inUserNamespace()) return Infinity;
  const { soft } = procMemlockLimit('self');
  return soft - procStatus('self').vmLckBytes;
}
