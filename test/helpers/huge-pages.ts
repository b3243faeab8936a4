// Huge pages for tests: the hugetlb pool (vm.nr_hugepages, set as root and
// always put back) and the thread's own minor-fault count.
import { readFileSync, writeFileSync } from 'node:fs';
import { pinnedStats, stats } from '../../src/index';
import { procMappings } from '../../src/proc';
import { vmLockedBytes } from './kernel';

const NR_HUGEPAGES = '/proc/sys/vm/nr_hugepages';
const POOL_2MB = '/sys/kernel/mm/hugepages/hugepages-2048kB';

/** Why the test cannot size the 2 MiB hugetlb pool here, or false. */
export function cannotSizePool(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to size the hugetlb pool (vm.nr_hugepages)';
  try {
    readFileSync(`${POOL_2MB}/nr_hugepages`);
  } catch {
    return 'this kernel has no 2 MiB hugetlb pool';
  }
  return false;
}

export function poolPages(file: 'nr_hugepages' | 'free_hugepages'): number {
  return Number(readFileSync(`${POOL_2MB}/${file}`, 'latin1').trim());
}

/**
 * Runs fn with the 2 MiB pool at `pages` (what the kernel could give: fn
 * gets the number), and puts the pool back as it was, whatever fn does.
 */
export async function withHugetlbPool<T>(pages: number, fn: (got: number) => T | Promise<T>): Promise<T> {
  const before = readFileSync(NR_HUGEPAGES, 'latin1').trim();
  const restore = () => writeFileSync(NR_HUGEPAGES, before);
  process.once('exit', restore);
  try {
    writeFileSync(NR_HUGEPAGES, String(pages));
    return await fn(poolPages('nr_hugepages'));
  } finally {
    restore();
    process.removeListener('exit', restore);
  }
}

/**
 * memlock's account of pinned memory and the kernel's, to compare before
 * and after: the locked mappings (VmFlags lo, or ht for hugetlb) are counted
 * rather than all of them, which V8's threads change at any moment.
 */
export function pinnedAccount() {
  const { lockedPages, heldLocks } = stats();
  const lockedMappings = procMappings('self').filter((m) => m.flags.includes('lo') || m.flags.includes('ht')).length;
  return { lockedPages, heldLocks, vmLckBytes: vmLockedBytes(), pinned: pinnedStats(), lockedMappings };
}

/** The transparent huge page mode: always, madvise or never. */
export function thpMode(): string {
  try {
    return /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'latin1'))?.[1] ?? 'never';
  } catch {
    return 'never';
  }
}

/** Minor faults this thread has taken, as the kernel counts them (/proc/thread-self/stat, field 10). */
export function threadMinorFaults(): number {
  const stat = readFileSync('/proc/thread-self/stat', 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
}

/** A write to the first byte of every page, the way a real-time loop first touches its buffer. */
export function touchPages(buffer: Buffer, step: number): void {
  for (let i = 0; i < buffer.length; i += step) buffer[i] = 1;
}
