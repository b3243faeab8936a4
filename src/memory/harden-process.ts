// hardenProcess(): what a process that keeps secrets can do about the ways
// out of its memory other than swap: core dumps (RLIMIT_CORE 0), and other
// processes of the same user reading it through ptrace or /proc/<pid>/mem
// (PR_SET_DUMPABLE 0). Opt-in: both have costs (docs/secrets.md).
import { readKernelFile } from '../kernel-file';
import { binding } from '../binding';
import { MemlockError, invalidArgType } from '../errors';
import { errnoName } from '../native-failure';
import { procCoreLimit } from '../proc';

export interface HardenOptions {
  /** RLIMIT_CORE 0, soft and hard (no core dump, and it cannot be raised again). Default true. */
  noCoreDumps?: boolean;
  /**
   * PR_SET_DUMPABLE 0: no core dump either, ptrace attach and
   * /proc/<pid>/mem, smaps, environ... refused to other users' and the same
   * user's processes (root with CAP_SYS_PTRACE still can); /proc/<pid>/
   * files become root-owned. Default true.
   */
  notDumpable?: boolean;
  /**
   * Where Yama is on (kernel.yama.ptrace_scope 1), PR_SET_PTRACER 0 clears
   * any exception this process granted a debugger. Linux has no way for a
   * process to refuse root's ptrace: kernel.yama.ptrace_scope=3 does that
   * system-wide. Default false.
   */
  refusePtrace?: boolean;
}

export type HardeningStep = 'noCoreDumps' | 'notDumpable' | 'refusePtrace';

/** The process's state as hardenProcess() sees it. */
export interface ProcessHardening {
  /** RLIMIT_CORE in bytes (Infinity: unlimited); null where it cannot be read. */
  coreLimit: { soft: number; hard: number } | null;
  /** PR_GET_DUMPABLE != 0; null where the platform has no such thing. */
  dumpable: boolean | null;
  /** kernel.yama.ptrace_scope (0 classic, 1 restricted to ancestors, 2 admin only, 3 none); null without Yama. */
  yamaPtraceScope: number | null;
}

export interface HardenResult {
  /** What it changed. */
  changed: HardeningStep[];
  /** What was already so (RLIMIT_CORE 0, not dumpable). */
  unchanged: HardeningStep[];
  /** What it could not do, and why (a MemlockError with errno and syscall). */
  failed: { step: HardeningStep; error: MemlockError }[];
  /** The state after. */
  state: ProcessHardening;
}

function yamaScope(): number | null {
  try {
    const value = Number(readKernelFile('/proc/sys/kernel/yama/ptrace_scope').trim());
    return Number.isInteger(value) ? value : null;
  } catch {
    return null;
  }
}

/** The hardening in force now (doctor's 'hardening' check). */
export function processHardening(): ProcessHardening {
  let coreLimit: ProcessHardening['coreLimit'];
  try {
    coreLimit = procCoreLimit('self');
  } catch {
    coreLimit = null; // no /proc (macOS, Windows)
  }
  const dumpable = binding.hardenProcess(0)[3];
  return { coreLimit, dumpable: dumpable < 0 ? null : dumpable !== 0, yamaPtraceScope: yamaScope() };
}

function flag(name: string, value: unknown): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw invalidArgType(`options.${name}`, 'of type boolean', value);
}

const SYSCALLS: Record<HardeningStep, string> = {
  noCoreDumps: 'setrlimit',
  notDumpable: 'prctl',
  refusePtrace: 'prctl',
};

const WHY: Record<string, string> = {
  ENOSYS: 'this platform has no such control',
  EINVAL: 'the kernel does not offer it (PR_SET_PTRACER needs the Yama LSM)',
  EPERM: 'refused (a hard limit cannot be raised, and some sandboxes refuse prctl)',
};

/**
 * Makes this process harder to read from outside: no core dumps, not
 * dumpable (see HardenOptions). Irreversible in practice (RLIMIT_CORE's hard
 * limit cannot be raised again without CAP_SYS_RESOURCE). Returns what it
 * changed, what was already so, and what it could not do.
 */
export function hardenProcess(options?: HardenOptions): HardenResult {
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw invalidArgType('options', 'of type object', options);
  }
  const want: Record<HardeningStep, boolean> = {
    noCoreDumps: flag('noCoreDumps', options?.noCoreDumps) ?? true,
    notDumpable: flag('notDumpable', options?.notDumpable) ?? true,
    refusePtrace: flag('refusePtrace', options?.refusePtrace) ?? false,
  };
  const before = processHardening();
  const already: Record<HardeningStep, boolean> = {
    noCoreDumps: before.coreLimit?.soft === 0 && before.coreLimit.hard === 0,
    notDumpable: before.dumpable === false,
    refusePtrace: false,
  };
  const bits = binding.numbers.harden;
  const flags =
    (want.noCoreDumps ? bits.noCore : 0) |
    (want.notDumpable ? bits.notDumpable : 0) |
    (want.refusePtrace ? bits.clearPtracer : 0);
  const [core, dumpable, ptracer] = binding.hardenProcess(flags);
  const result: HardenResult = { changed: [], unchanged: [], failed: [], state: processHardening() };
  const outcomes: [HardeningStep, number][] = [
    ['noCoreDumps', core],
    ['notDumpable', dumpable],
    ['refusePtrace', ptracer],
  ];
  for (const [step, rc] of outcomes) {
    if (!want[step]) continue;
    if (rc < 0) {
      const code = errnoName(rc);
      const error = new MemlockError(
        `hardenProcess: ${step}: ${SYSCALLS[step]} failed with ${code}: ${WHY[code] ?? code}`,
        {
          code,
          errno: rc,
          syscall: SYSCALLS[step],
        },
      );
      result.failed.push({ step, error });
    } else {
      (already[step] ? result.unchanged : result.changed).push(step);
    }
  }
  return result;
}
