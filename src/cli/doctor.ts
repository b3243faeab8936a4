// `memlock doctor`: can this environment lock memory the way memlock does?
// Each check looks at this process, so run it the way the service runs (same
// user, systemd unit, container). Shapes of --json: DoctorReport below.
import { inspect } from 'node:util';
import { release } from 'node:os';
import { performance } from 'node:perf_hooks';
import { binding } from '../binding';
import {
  capabilityEffectiveCheck,
  cgroupLimitCheck,
  cgroupProtectionCheck,
  hypervisorCheck,
  lockableNow,
  psiCheck,
  type CgroupLimitCheck,
} from './container';
import type { Check, CheckError, CheckId, CheckStatus } from './check';
import { cgroupEventsCheck } from './cgroup-events';
import { containerMemoryCheck, containerSwapCheck, seccompCheck, userNamespaceCheck } from './container-checks';
import { realtimeChecks, renderRealtime, type RealtimeReport } from './realtime';
import { columns, formatBytes, limitJson, parseCommand, positiveNumber, stylist, USAGE } from './format';
import { allocSecret, hugePageSupport, lock, MemlockError } from '../index';
import { secretBackendNow } from '../memory/secret-backend';
import { processHardening } from '../memory/harden-process';
import { maxMapCount, procMappings, procMemlockLimit, procStatus, swapAreas, type Mapping } from '../proc';
import { inUserNamespace, memlockRemedies } from '../native-failure';

/** `memlock doctor --json`: one object; exit code 0 when ok, else 1. */
export interface DoctorReport {
  command: 'doctor';
  /** No check has status "fail". */
  ok: boolean;
  /** The CLI's own pid: the process checked. */
  pid: number;
  /** process.version */
  node: string;
  /** os.release() */
  kernel: string;
  /** --size (MiB, default 64) in bytes. */
  sizeBytes: number;
  /** null: unlimited. */
  rlimitMemlock: { soft: number | null; hard: number | null };
  capIpcLock: boolean;
  /** Always the same checks, in the same order (see CheckId). */
  checks: Check[];
  summary: Record<CheckStatus, number>;
  /** Real-time readiness: what the kernel may still do to locked memory (never fails). */
  realtime: RealtimeReport;
}

const MiB = 1024 * 1024;
const RECOMMENDED_MAX_MAP_COUNT = 65530;

const KERNEL_FEATURES = [
  { feature: 'mlock2/MLOCK_ONFAULT', since: [4, 4], usedBy: 'lock(view, { onFault: true })' },
  { feature: 'MADV_DONTDUMP', since: [3, 4], usedBy: 'allocSecret' },
  { feature: 'MADV_WIPEONFORK', since: [4, 14], usedBy: "allocSecret (onFork: 'wipe')" },
  { feature: 'MADV_DONTNEED_LOCKED', since: [5, 18], usedBy: 'whole-process locking' },
] as const;

interface Environment {
  sizeBytes: number;
  soft: number;
  hard: number;
  capable: boolean;
}

function check(
  id: CheckId,
  title: string,
  status: CheckStatus,
  finding: string,
  remedy: string[] = [],
  error: unknown = null,
): Check {
  return { id, title, status, finding, remedy: status === 'pass' ? [] : remedy, error: errorInfo(error) };
}

function errorInfo(error: unknown): CheckError | null {
  if (error === null || error === undefined) return null;
  if (error instanceof MemlockError) {
    return {
      code: String(error.code),
      message: error.message,
      syscall: error.syscall ?? null,
      errno: error.errno ?? null,
    };
  }
  const e = error as { code?: unknown; name?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'ERR_UNKNOWN';
  return { code, message: typeof e.message === 'string' ? e.message : inspect(error), syscall: null, errno: null };
}

/** A refusal in a few words; the library's full message, with its advice, is in the JSON's error. */
function refusal(e: CheckError): string {
  return e.syscall === null ? e.code : `${e.code} from ${e.syscall}`;
}

function limits(env: Environment): string {
  return `${formatBytes(env.soft)} soft / ${formatBytes(env.hard)} hard`;
}

function rlimitBinds(env: Environment, bytes: number): boolean {
  return !env.capable && env.soft < bytes;
}

/** Fixes for a refused lock: the rlimit ones when the rlimit is what binds. */
function lockRemedy(error: unknown, env: Environment, bytes: number): string[] {
  const code = error instanceof MemlockError ? error.code : undefined;
  if (code === 'ERR_MEMLOCK_LIMIT')
    return [
      "memlock's lockable-page limit (90% of RAM by default) is below this: lower --size, or raise it with setLockablePageLimit(pages)",
    ];
  if (code === 'ENOSYS' || code === 'EINVAL')
    return ['upgrade the kernel (see the kernel check), or check that no seccomp profile filters the syscall'];
  if (!env.capable && (code === 'ENOMEM' || code === 'EPERM' || code === 'EAGAIN' || rlimitBinds(env, bytes)))
    return [...memlockRemedies()];
  return [
    'free memory, or lower --size to what the service needs: the kernel could not lock this much (or the process is at vm.max_map_count mappings)',
  ];
}

function rlimitCheck(env: Environment): Check {
  const title = 'RLIMIT_MEMLOCK';
  if (env.capable)
    return check('rlimit', title, 'pass', `${limits(env)}; does not bind: this process has CAP_IPC_LOCK`);
  if (env.soft < env.sizeBytes) {
    return check(
      'rlimit',
      title,
      'fail',
      `${limits(env)} and no CAP_IPC_LOCK: below the ${formatBytes(env.sizeBytes)} asked for (--size)`,
      [...memlockRemedies()],
    );
  }
  return check(
    'rlimit',
    title,
    'pass',
    `${limits(env)}: the process may lock up to ${formatBytes(env.soft)} (--size ${formatBytes(env.sizeBytes)})`,
  );
}

function capabilityCheck(env: Environment): Check {
  if (env.capable)
    return check('capability', 'CAP_IPC_LOCK', 'pass', 'held: RLIMIT_MEMLOCK does not limit what this process locks');
  // Not a failure (the rlimit check says whether the limit suffices), but not a pass either.
  return check(
    'capability',
    'CAP_IPC_LOCK',
    'warn',
    `not held: RLIMIT_MEMLOCK (${formatBytes(env.soft)}) limits what this process locks`,
    [...memlockRemedies()],
  );
}

function swapCheck(): Check {
  const areas = swapAreas();
  if (areas.length === 0) {
    return check(
      'swap',
      'swap',
      'pass',
      'none in /proc/swaps: anonymous memory cannot be swapped out; locking still faults pages in up front and keeps file-backed pages resident',
    );
  }
  const total = areas.reduce((sum, area) => sum + area.sizeBytes, 0);
  return check(
    'swap',
    'swap',
    'pass',
    `${areas.length} swap area${areas.length === 1 ? '' : 's'}, ${formatBytes(total)} (${areas.map((a) => a.path).join(', ')}): unlocked anonymous memory may be swapped out`,
  );
}

function maxMapCountCheck(): Check {
  const max = maxMapCount();
  if (max < RECOMMENDED_MAX_MAP_COUNT) {
    return check(
      'max-map-count',
      'vm.max_map_count',
      'warn',
      `${max}, below the usual ${RECOMMENDED_MAX_MAP_COUNT}: each separately locked range can split a mapping`,
      [
        `sysctl -w vm.max_map_count=${RECOMMENDED_MAX_MAP_COUNT} (persist it in /etc/sysctl.d/); containers share the host's value`,
      ],
    );
  }
  return check('max-map-count', 'vm.max_map_count', 'pass', `${max} mappings per process`);
}

function testLockCheck(env: Environment): Check {
  const title = 'test lock';
  const bytes = env.sizeBytes;
  // A DataView over a fresh ArrayBuffer: in Node 20 a Buffer or Uint8Array
  // stops at 4 GiB, and lock() would wrap a bare ArrayBuffer in a Uint8Array.
  let buffer: DataView;
  try {
    buffer = new DataView(new ArrayBuffer(bytes));
  } catch (error) {
    return check(
      'test-lock',
      title,
      'fail',
      `could not allocate ${formatBytes(bytes)}: ${errorInfo(error)!.message}`,
      ['lower --size to what the service needs'],
      error,
    );
  }
  try {
    const started = performance.now();
    lock(buffer).release();
    const ms = performance.now() - started;
    return check('test-lock', title, 'pass', `locked and released ${formatBytes(bytes)} in ${ms.toFixed(1)} ms`);
  } catch (error) {
    const e = errorInfo(error)!;
    return check(
      'test-lock',
      title,
      'fail',
      `lock() of ${formatBytes(bytes)} refused: ${refusal(e)}`,
      lockRemedy(error, env, bytes),
      error,
    );
  }
}

/** A page-aligned view of `pages` pages, so the kernel's flags for it are exact. */
function alignedPages(pages: number): Uint8Array {
  const pageSize = binding.pageSize;
  const backing = new Uint8Array((pages + 1) * pageSize);
  const skip = (pageSize - (binding.addressOf(backing) % pageSize)) % pageSize;
  return backing.subarray(skip, skip + pages * pageSize);
}

function mappingAt(address: number): Mapping | undefined {
  return procMappings('self').find((m) => m.start <= address && address < m.end);
}

function onFaultCheck(env: Environment): Check {
  const title = 'MLOCK_ONFAULT';
  const view = alignedPages(4);
  try {
    const held = lock(view, { onFault: true });
    let flags: string[];
    try {
      flags = mappingAt(binding.addressOf(view))?.flags ?? [];
    } finally {
      held.release();
    }
    if (flags.includes('lo') && flags.includes('lf')) {
      return check(
        'on-fault',
        title,
        'pass',
        'mlock2(MLOCK_ONFAULT) works: the kernel shows the range locked on fault (VmFlags lo lf)',
      );
    }
    return check(
      'on-fault',
      title,
      'warn',
      `mlock2(MLOCK_ONFAULT) succeeded but the range's VmFlags are "${flags.join(' ')}", without lo and lf`,
      ['lock(view, { onFault: true }) may not behave as documented here; plain lock() is unaffected'],
    );
  } catch (error) {
    const e = errorInfo(error)!;
    return check(
      'on-fault',
      title,
      'fail',
      `lock(view, { onFault: true }) of ${formatBytes(view.byteLength)} refused: ${refusal(e)}`,
      lockRemedy(error, env, view.byteLength),
      error,
    );
  }
}

function madviseCheck(env: Environment): Check {
  const title = 'MADV_DONTDUMP/WIPEONFORK';
  let secret;
  try {
    // The mlock backend: secretmem is dropped on fork, never wiped (secretBackendCheck).
    secret = allocSecret(32, { placement: 'guarded', backend: 'mlock' });
  } catch (error) {
    const e = errorInfo(error)!;
    if (e.syscall === 'madvise') {
      return check(
        'madvise',
        title,
        'fail',
        `allocSecret(32, { placement: 'guarded' }) refused: ${refusal(e)}`,
        [
          'MADV_DONTDUMP needs Linux >= 3.4 and MADV_WIPEONFORK >= 4.14: upgrade the kernel, or allow madvise in the seccomp profile',
        ],
        error,
      );
    }
    // The secret could not be mapped or locked, so madvise was never tried.
    return check(
      'madvise',
      title,
      'warn',
      `not tested: allocSecret refused before madvise: ${refusal(e)}`,
      lockRemedy(error, env, binding.pageSize),
      error,
    );
  }
  try {
    const flags = mappingAt(binding.addressOf(secret.buffer))?.flags ?? [];
    if (flags.includes('dd') && flags.includes('wf')) {
      return check(
        'madvise',
        title,
        'pass',
        'accepted: a guarded secret is out of core dumps and wiped on fork (VmFlags dd wf)',
      );
    }
    return check(
      'madvise',
      title,
      'warn',
      `madvise succeeded but the secret's VmFlags are "${flags.join(' ')}", without dd and wf`,
      ['secret memory may appear in core dumps or forked children here'],
    );
  } finally {
    secret.free();
  }
}

// Which backend allocSecret's 'auto' gets here, tried for real: a guarded
// secret on memfd_secret memory, found in /proc/self/maps as /secretmem.
function secretBackendCheck(): Check {
  const title = 'secret memory backend';
  let secret;
  try {
    secret = allocSecret(32, { placement: 'guarded', backend: 'secretmem' });
  } catch (error) {
    const e = errorInfo(error)!;
    const { fallback } = secretBackendNow();
    return check(
      'secret-backend',
      title,
      'warn',
      `secrets use the mlock backend (still locked, out of core dumps, wiped on fork): memfd_secret refused: ${refusal(e)}`,
      [fallback?.reason ?? 'see the error'],
      error,
    );
  }
  try {
    const mapping = mappingAt(binding.addressOf(secret.buffer));
    if (mapping?.path?.startsWith('/secretmem')) {
      return check(
        'secret-backend',
        title,
        'pass',
        'secretmem: secrets are out of the kernel direct map, unreadable through /proc/<pid>/mem and ptrace',
      );
    }
    return check(
      'secret-backend',
      title,
      'warn',
      `memfd_secret succeeded but the mapping is "${mapping?.path ?? 'missing'}", not /secretmem`,
      ['report this: the kernel may not keep secretmem memory out of its direct map here'],
    );
  } finally {
    secret.free();
  }
}

// What a process started as this one was gets by default: a core dump
// holds every copy of a secret outside memlock's memory (a string, a
// derived key), which MADV_DONTDUMP cannot reach.
function hardeningCheck(): Check {
  const title = 'process hardening';
  const state = processHardening();
  const core = state.coreLimit;
  const yama = state.yamaPtraceScope === null ? 'no Yama' : `kernel.yama.ptrace_scope ${String(state.yamaPtraceScope)}`;
  const dumps = core === null || core.soft > 0;
  const finding =
    `RLIMIT_CORE ${core === null ? 'unknown' : formatBytes(core.soft)}, ` +
    `${state.dumpable === false ? 'not dumpable' : 'dumpable'}, ${yama}`;
  if (dumps && state.dumpable !== false) {
    return check('hardening', title, 'warn', `${finding}: a crash writes the heap to a core dump`, [
      'call hardenProcess() at start (RLIMIT_CORE 0, PR_SET_DUMPABLE 0), or systemd LimitCORE=0',
    ]);
  }
  return check('hardening', title, 'pass', `${finding}: no core dump of this process`);
}

function kernelVersion(text: string): [number, number] | undefined {
  const match = /^(\d+)\.(\d+)/.exec(text);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

// What allocPinned({ hugePages }) can get here: only a warning when neither
// a pool nor transparent huge pages are there, since most services need none.
function hugePagesCheck(): Check {
  const title = 'huge pages';
  const { hugetlb, transparent } = hugePageSupport();
  const pools =
    hugetlb.length === 0
      ? 'no hugetlb pools'
      : hugetlb.map((p) => `hugetlb ${formatBytes(p.pageSize)}: ${p.available} of ${p.pages} free`).join(', ');
  const thp =
    transparent.mode === 'never'
      ? 'transparent huge pages off'
      : `transparent huge pages ${transparent.mode} (${formatBytes(transparent.pageSize)})`;
  const finding = `${pools}; ${thp}`;
  if (transparent.mode !== 'never' || hugetlb.some((p) => p.available > 0)) {
    return check('huge-pages', title, 'pass', `${finding}: allocPinned({ hugePages: 'try' }) can use them`);
  }
  return check('huge-pages', title, 'warn', `${finding}: allocPinned({ hugePages: 'require' }) will be refused`, [
    'reserve a hugetlb pool as root: sysctl -w vm.nr_hugepages=N (N pages of 2 MiB), or hugepages= on the kernel command line',
    'or enable transparent huge pages: echo madvise > /sys/kernel/mm/transparent_hugepage/enabled',
  ]);
}

function kernelCheck(): Check {
  const text = release();
  const version = kernelVersion(text);
  if (!version)
    return check('kernel', 'kernel', 'warn', `cannot read a version from "${text}"`, [
      'check the kernel version by hand: Linux >= 5.18 has everything memlock uses',
    ]);
  const atLeast = ([major, minor]: readonly [number, number]) =>
    version[0] > major || (version[0] === major && version[1] >= minor);
  const missing = KERNEL_FEATURES.filter((f) => !atLeast(f.since));
  if (missing.length === 0) {
    return check('kernel', 'kernel', 'pass', `Linux ${text}: has ${KERNEL_FEATURES.map((f) => f.feature).join(', ')}`);
  }
  const list = missing.map((f) => `${f.feature} (>= ${f.since.join('.')}, for ${f.usedBy})`).join(', ');
  return check('kernel', 'kernel', 'warn', `Linux ${text} lacks ${list}`, [
    `upgrade to Linux >= ${missing.at(-1)!.since.join('.')}, or avoid the features listed`,
  ]);
}

/** Runs one check; an unexpected exception is that check's failure, not the CLI's. */
function guarded(id: CheckId, title: string, run: () => Check): Check {
  try {
    return run();
  } catch (error) {
    return check(
      id,
      title,
      'fail',
      `could not check: ${errorInfo(error)!.message}`,
      ['see the error; run memlock doctor as the service runs'],
      error,
    );
  }
}

export function doctor(sizeBytes: number): DoctorReport {
  const { soft, hard } = procMemlockLimit('self');
  // CAP_IPC_LOCK counts only outside a user namespace (mm/mlock.c: capable()).
  const env: Environment = { sizeBytes, soft, hard, capable: procStatus('self').hasIpcLock && !inUserNamespace() };
  // First, so that a lock the memory cgroup cannot hold is not tried: it
  // would get this process OOM-killed.
  let cgroup: CgroupLimitCheck = {
    check: check('cgroup-limit', 'memory cgroup limit', 'pass', ''),
    wouldExceed: false,
  };
  const cgroupCheck = guarded(
    'cgroup-limit',
    'memory cgroup limit',
    () => (cgroup = cgroupLimitCheck(sizeBytes)).check,
  );
  const checks = [
    guarded('rlimit', 'RLIMIT_MEMLOCK', () => rlimitCheck(env)),
    guarded('capability', 'CAP_IPC_LOCK', () => capabilityCheck(env)),
    guarded('swap', 'swap', swapCheck),
    guarded('max-map-count', 'vm.max_map_count', maxMapCountCheck),
    cgroup.wouldExceed
      ? check(
          'test-lock',
          'test lock',
          'fail',
          `not tried: ${formatBytes(sizeBytes)} would take the memory cgroup over its limit (see below)`,
          ['see the memory cgroup limit check'],
        )
      : guarded('test-lock', 'test lock', () => testLockCheck(env)),
    guarded('on-fault', 'MLOCK_ONFAULT', () => onFaultCheck(env)),
    guarded('madvise', 'MADV_DONTDUMP/WIPEONFORK', () => madviseCheck(env)),
    guarded('kernel', 'kernel', kernelCheck),
    cgroupCheck,
    guarded('cgroup-protection', 'memory.min/low', cgroupProtectionCheck),
    guarded('cap-effective', 'CAP_IPC_LOCK effective', capabilityEffectiveCheck),
    guarded('psi', 'PSI', psiCheck),
    guarded('hypervisor', 'hypervisor', () => hypervisorCheck(cgroup.check.status === 'pass' ? lockableNow() : 0)),
    guarded('huge-pages', 'huge pages', hugePagesCheck),
    guarded('secret-backend', 'secret memory backend', secretBackendCheck),
    guarded('hardening', 'process hardening', hardeningCheck),
    guarded('cgroup-events', 'memory cgroup events', cgroupEventsCheck),
    guarded('container-swap', 'swap allowed to the container', containerSwapCheck),
    guarded('container-memory', 'locked memory vs memory.high/max', () => containerMemoryCheck(sizeBytes)),
    guarded('user-namespace', 'user namespace', userNamespaceCheck),
    guarded('seccomp', 'seccomp', seccompCheck),
  ];
  const summary = { pass: 0, warn: 0, fail: 0 };
  for (const c of checks) summary[c.status] += 1;
  return {
    command: 'doctor',
    ok: summary.fail === 0,
    pid: process.pid,
    node: process.version,
    kernel: release(),
    sizeBytes,
    rlimitMemlock: { soft: limitJson(soft), hard: limitJson(hard) },
    capIpcLock: env.capable,
    checks,
    summary,
    realtime: realtimeChecks(),
  };
}

export function renderDoctor(report: DoctorReport): string {
  const style = stylist();
  const colour = { pass: 'green', warn: 'yellow', fail: 'red' } as const;
  const lines = [
    style('bold', 'memlock doctor') +
      `  pid ${report.pid}, node ${report.node}, Linux ${report.kernel}, test size ${formatBytes(report.sizeBytes)}`,
    '',
  ];
  const rows = columns(report.checks.map((c) => [c.status.toUpperCase(), c.title, c.finding]));
  const indent = ' '.repeat(rows[0]![0]!.length + 2 + rows[0]![1]!.length + 2);
  const printed = new Map<string, string>();
  report.checks.forEach((c, i) => {
    const [status, title, finding] = rows[i]!;
    lines.push(`${style(['bold', colour[c.status]], status!)}  ${title}  ${finding}`);
    // The same fixes under several checks are printed once.
    const key = c.remedy.join('\n');
    if (c.remedy.length > 0 && printed.has(key))
      lines.push(`${indent}${style('dim', 'fix:')} as for ${printed.get(key)} above`);
    else for (const fix of c.remedy) lines.push(`${indent}${style('dim', 'fix:')} ${fix}`);
    printed.set(key, printed.get(key) ?? c.title);
  });
  const { pass, warn, fail } = report.summary;
  lines.push('', `${pass} passed, ${warn} warning${warn === 1 ? '' : 's'}, ${fail} failed`);
  lines.push(...renderRealtime(report.realtime, style));
  return `${lines.join('\n')}\n`;
}

/** `memlock doctor [--json] [--size MiB]`; returns the exit code. */
export function doctorCommand(args: string[]): number {
  const values = parseCommand(args, { json: { type: 'boolean' }, size: { type: 'string' } }, USAGE.doctor);
  if (values.help) {
    process.stdout.write(`${USAGE.doctor}\n`);
    return 0;
  }
  const sizeMiB = values.size === undefined ? 64 : positiveNumber('--size', values.size, USAGE.doctor, 'MiB');
  const report = doctor(Math.max(1, Math.round(sizeMiB * MiB)));
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderDoctor(report));
  return report.ok ? 0 : 1;
}
