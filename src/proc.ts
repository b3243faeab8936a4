// Readers for the kernel's own account of a process, from /proc. Each reads
// one file; failures surface as MemlockError with the errno code (ENOENT for
// a process that does not exist, EACCES for one that may not be read).
import { readKernelFile } from './kernel-file';
import { MemlockError, systemCode } from './errors';

const CAP_IPC_LOCK = 14n;

export function readProcFile(path: string): string {
  try {
    return readKernelFile(path);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const code = e.code ?? 'EIO';
    const what =
      code === 'ENOENT'
        ? 'no such process (or no /proc)'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'ESRCH'
            ? 'the process has no memory to report (a zombie, a kernel thread, or exiting)'
            : e.message;
    throw new MemlockError(`cannot read ${path}: ${what}`, {
      code: systemCode(code),
      ...(e.errno === undefined ? {} : { errno: e.errno }),
      syscall: 'open',
    });
  }
}

/** `Key: value kB` fields of /proc/<pid>/status (or smaps_rollup), in bytes. */
export function kbField(text: string, key: string): number | undefined {
  const match = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
  return match ? Number(match[1]) * 1024 : undefined;
}

export interface ProcStatus {
  /** VmSize: everything the process has mapped. */
  vmSizeBytes: number;
  vmLckBytes: number;
  vmPinBytes: number;
  hasIpcLock: boolean;
  name: string;
}

export function procStatus(pid: number | 'self'): ProcStatus {
  const text = readProcFile(`/proc/${pid}/status`);
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(text)?.[1] ?? '0';
  return {
    vmSizeBytes: kbField(text, 'VmSize') ?? 0,
    vmLckBytes: kbField(text, 'VmLck') ?? 0,
    vmPinBytes: kbField(text, 'VmPin') ?? 0,
    hasIpcLock: ((BigInt(`0x${capEff}`) >> CAP_IPC_LOCK) & 1n) === 1n,
    name: /^Name:\s*(.*)$/m.exec(text)?.[1] ?? '',
  };
}

/**
 * The process's name: the last part of its argv[0] (/proc/<pid>/cmdline,
 * which also shows a title the process set), else Name: of its status.
 * Not comm alone: that is the main thread's name, and Node 22+ names its
 * main thread "MainThread". A zombie or a kernel thread has no argv.
 */
export function procName(pid: number | 'self'): string {
  const argv0 = readProcFile(`/proc/${pid}/cmdline`).split('\0', 1)[0]!;
  if (argv0 === '') return procStatus(pid).name;
  // A path is shortened to its last part; a title with spaces is kept whole.
  return /\s/.test(argv0) ? argv0 : argv0.slice(argv0.lastIndexOf('/') + 1) || argv0;
}

/** RLIMIT_MEMLOCK of any process, from /proc/<pid>/limits; Infinity = unlimited. */
export function procMemlockLimit(pid: number | 'self'): { soft: number; hard: number } {
  const line = /^Max locked memory\s+(\S+)\s+(\S+)/m.exec(readProcFile(`/proc/${pid}/limits`));
  const bytes = (value: string | undefined) =>
    value === undefined || value === 'unlimited' ? Infinity : Number(value);
  return { soft: bytes(line?.[1]), hard: bytes(line?.[2]) };
}

/** RLIMIT_CORE in bytes (Infinity: unlimited), from /proc/<pid>/limits. */
export function procCoreLimit(pid: number | 'self'): { soft: number; hard: number } {
  const line = /^Max core file size\s+(\S+)\s+(\S+)/m.exec(readProcFile(`/proc/${pid}/limits`));
  const bytes = (value: string | undefined) =>
    value === undefined || value === 'unlimited' ? Infinity : Number(value);
  return { soft: bytes(line?.[1]), hard: bytes(line?.[2]) };
}

/** Sum of smaps `Locked:` over the whole process (smaps_rollup). */
export function smapsLockedBytes(pid: number | 'self'): number {
  return kbField(readProcFile(`/proc/${pid}/smaps_rollup`), 'Locked') ?? 0;
}

export function mappingCount(pid: number | 'self'): number {
  const text = readProcFile(`/proc/${pid}/maps`);
  let lines = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines += 1;
  return lines;
}

export function maxMapCount(): number {
  const text = readProcFile('/proc/sys/vm/max_map_count').trim();
  // Number('') is 0: an empty file (some sandboxes) would read as a cap of 0.
  if (!/^\d+$/.test(text)) {
    const what = text === '' ? 'it is empty' : `not a count: ${JSON.stringify(text.slice(0, 40))}`;
    throw new MemlockError(`cannot read /proc/sys/vm/max_map_count: ${what}`, { code: 'ERR_MEMLOCK_PROC_FORMAT' });
  }
  return Number(text);
}

export interface Mapping {
  start: number;
  end: number;
  perms: string;
  path: string;
  lockedBytes: number;
  rssBytes: number;
  /** Of Rss, bytes on transparent huge pages (AnonHugePages). */
  anonHugeBytes: number;
  /** The size of the pages backing it (KernelPageSize): 2 MiB or 1 GiB for hugetlb. */
  kernelPageBytes: number;
  flags: string[];
}

/** Every mapping of /proc/<pid>/smaps with its Locked:, Rss:, huge pages and VmFlags. */
export function procMappings(pid: number | 'self'): Mapping[] {
  const mappings: Mapping[] = [];
  let current: Mapping | undefined;
  for (const line of readProcFile(`/proc/${pid}/smaps`).split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      current = {
        start: parseInt(header[1]!, 16),
        end: parseInt(header[2]!, 16),
        perms: header[3]!,
        path: header[4] ?? '',
        lockedBytes: 0,
        rssBytes: 0,
        anonHugeBytes: 0,
        kernelPageBytes: 0,
        flags: [],
      };
      mappings.push(current);
    } else if (current) {
      if (line.startsWith('Locked:')) current.lockedBytes = Number.parseInt(line.slice(7), 10) * 1024;
      else if (line.startsWith('Rss:')) current.rssBytes = Number.parseInt(line.slice(4), 10) * 1024;
      else if (line.startsWith('AnonHugePages:')) current.anonHugeBytes = Number.parseInt(line.slice(14), 10) * 1024;
      else if (line.startsWith('KernelPageSize:')) current.kernelPageBytes = Number.parseInt(line.slice(15), 10) * 1024;
      else if (line.startsWith('VmFlags:')) current.flags = line.slice(8).trim().split(/\s+/);
    }
  }
  return mappings;
}

/** Swap areas in use, from /proc/swaps. */
export function swapAreas(): { path: string; sizeBytes: number }[] {
  return readProcFile('/proc/swaps')
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((line) => {
      const [path = '', , size = '0'] = line.split(/\s+/);
      return { path, sizeBytes: Number(size) * 1024 };
    });
}

/** Every counter of /proc/vmstat (system-wide, since boot), by name. */
export function vmstat(): Map<string, number> {
  const counters = new Map<string, number>();
  for (const line of readProcFile('/proc/vmstat').split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0) counters.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return counters;
}
