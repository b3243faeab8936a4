// The kernel's own account of locked memory, read from /proc, to check
// memlock against. Addresses come from the addon's test-facing addressOf.
import { readFileSync } from 'node:fs';
import { binding } from '../../src/binding';
import { lock, MemlockError, verify } from '../../src/index';

interface Mapping {
  start: number;
  end: number;
  lockedKb: number;
  flags: string[];
  /** What is mapped: a file, [heap], /secretmem (deleted) for memfd_secret memory, '' for anonymous. */
  path: string;
}

export function readMappings(pid: number | 'self' = 'self'): Mapping[] {
  const mappings: Mapping[] = [];
  let current: Mapping | undefined;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'latin1').split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+ *(.*)$/.exec(line);
    if (range) {
      current = {
        start: parseInt(range[1]!, 16),
        end: parseInt(range[2]!, 16),
        lockedKb: 0,
        flags: [],
        path: range[3] ?? '',
      };
      mappings.push(current);
    } else if (current && line.startsWith('Locked:')) {
      current.lockedKb = parseInt(line.slice(7), 10);
    } else if (current && line.startsWith('VmFlags:')) {
      current.flags = line.slice(8).trim().split(/\s+/);
    }
  }
  return mappings;
}

export interface KernelLockState {
  /** Pages of the view's page range inside a VM_LOCKED mapping (VmFlags `lo`). */
  lockedPages: number;
  /** Of those, pages locked on fault only (VmFlags `lf`, MLOCK_ONFAULT). */
  onFaultPages: number;
  /** smaps `Locked:` of the mappings overlapping the range, each capped at the overlap. */
  lockedBytes: number;
  totalPages: number;
}

export function pageRange(view: ArrayBufferView): { start: number; end: number } {
  const pageSize = binding.pageSize;
  const address = binding.addressOf(view);
  const start = Math.floor(address / pageSize) * pageSize;
  const end = Math.ceil((address + view.byteLength) / pageSize) * pageSize;
  return { start, end };
}

export function kernelLockState(view: ArrayBufferView): KernelLockState {
  const pageSize = binding.pageSize;
  const { start, end } = pageRange(view);
  let lockedPages = 0;
  let onFaultPages = 0;
  let lockedBytes = 0;
  for (const m of readMappings()) {
    const from = Math.max(m.start, start);
    const to = Math.min(m.end, end);
    if (from >= to) continue;
    if (m.flags.includes('lo')) lockedPages += (to - from) / pageSize;
    if (m.flags.includes('lo') && m.flags.includes('lf')) onFaultPages += (to - from) / pageSize;
    lockedBytes += Math.min(m.lockedKb * 1024, to - from);
  }
  return { lockedPages, onFaultPages, lockedBytes, totalPages: (end - start) / pageSize };
}

/**
 * Why onFault (mlock2) cannot be tested here, or false: qemu-user 7.2 does
 * not emulate mlock2 (nor do kernels before 4.4). The backend finds that out
 * at load (capabilities().onFault is false), and onFault then throws
 * ERR_MEMLOCK_UNSUPPORTED; a syscall that goes missing later says ENOSYS.
 */
export function noMlock2(): string | false {
  try {
    lock(new Uint8Array(1), { onFault: true }).release();
    return false;
  } catch (error) {
    if (error instanceof MemlockError && (error.code === 'ENOSYS' || error.code === 'ERR_MEMLOCK_UNSUPPORTED')) {
      return `mlock2 is missing here (${error.code}; qemu-user 7.2 does not emulate it)`;
    }
    throw error;
  }
}

/** VmLck of /proc/<pid>/status, in bytes. */
export function vmLockedBytes(pid: number | 'self' = 'self'): number {
  const match = /^VmLck:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  if (!match) throw new Error('no VmLck in /proc/self/status');
  return Number(match[1]) * 1024;
}

/** A touched, page-aligned Uint8Array of `pages` pages (for exact page math). */
export function alignedPages(pages: number): Uint8Array {
  const pageSize = binding.pageSize;
  const backing = new Uint8Array((pages + 1) * pageSize);
  const address = binding.addressOf(backing);
  const skip = (pageSize - (address % pageSize)) % pageSize;
  const view = backing.subarray(skip, skip + pages * pageSize);
  view.fill(1);
  return view;
}

/**
 * Per page of [firstPage, firstPage + pages), from one read of smaps: L
 * locked (VmFlags lo), F locked on fault (lo lf), - not locked. Reading smaps
 * costs a few ms (the kernel walks every mapping), so property tests read it
 * once per check and scan it with indexOf rather than split it into lines.
 */
export function kernelPageStates(firstPage: number, pages: number): string {
  const pageSize = binding.pageSize;
  const text = readFileSync('/proc/self/smaps', 'latin1');
  const low = firstPage * pageSize;
  const high = low + pages * pageSize;
  const states = Array.from({ length: pages }, () => '?');
  // Each mapping is a header line "start-end perms ..." and ends with its VmFlags line.
  for (let pos = 0; pos < text.length;) {
    const dash = text.indexOf('-', pos);
    const space = text.indexOf(' ', dash);
    const flagsAt = text.indexOf('\nVmFlags:', space);
    const eol = text.indexOf('\n', flagsAt + 1);
    if (dash < 0 || space < 0 || flagsAt < 0 || eol < 0) throw new Error('harness: unexpected smaps format');
    const start = Math.max(low, parseInt(text.slice(pos, dash), 16));
    const end = Math.min(high, parseInt(text.slice(dash + 1, space), 16));
    if (start < end) {
      const flags = text
        .slice(flagsAt + 9, eol)
        .trim()
        .split(/\s+/);
      const state = !flags.includes('lo') ? '-' : flags.includes('lf') ? 'F' : 'L';
      for (let a = start; a < end; a += pageSize) states[(a - low) / pageSize] = state;
    }
    pos = eol + 1;
  }
  return states.join('');
}

export interface KernelCheck {
  ok: boolean;
  countedPages: number;
  missingPages: number;
}

/**
 * memlock's table against the kernel's account: verify() where memlock
 * reads that account itself (the Linux backend); elsewhere (the portable
 * backend, run on Linux) the test reads it: every page a held lock covers
 * must be in a locked mapping (VmFlags lo, or ht for hugetlb).
 */
export function tableAgreesWithKernel(): KernelCheck {
  if (binding.platform.kernelAccount) {
    const { ok, countedPages, missingPages } = verify();
    return { ok, countedPages, missingPages };
  }
  const pageSize = binding.pageSize;
  const counted = new Set<number>();
  const F = binding.numbers.lockFields;
  const { rows } = binding.locks();
  for (let r = 0; r < rows.length; r += F.fieldCount) {
    const first = rows[r + F.start]! / pageSize;
    for (let page = 0; page < rows[r + F.pages]!; page += 1) counted.add(first + page);
  }
  const locked = readMappings().filter((m) => m.flags.includes('lo') || m.flags.includes('ht'));
  let missingPages = 0;
  for (const page of counted) {
    const address = page * pageSize;
    if (!locked.some((m) => m.start <= address && address < m.end)) missingPages += 1;
  }
  return { ok: missingPages === 0, countedPages: counted.size, missingPages };
}
