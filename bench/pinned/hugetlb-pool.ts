// A 2 MiB hugetlb pool for the benchmark's run, when the machine has none
// free: made only when asked (--hugetlb-pool, announced when the run starts),
// only as root, sized to what the run needs on top of what is there, and put
// back as it was at cleanup, interrupted or not (as the swapfile is).
import fs from 'node:fs';
import { onCleanup } from '../common/cleanup';

const NR_HUGEPAGES = '/proc/sys/vm/nr_hugepages';
const FREE = '/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages';

const read = (file: string): number => Number(fs.readFileSync(file, 'latin1').trim());

/** The flag that lets a benchmark run change vm.nr_hugepages. */
export const HUGETLB_POOL_FLAG = '--hugetlb-pool';

/**
 * Makes `pages` 2 MiB pages free for this run, when `mayResize` (the flag was
 * given). Returns how it went: the pages there were free before, the pool
 * size it set (null: left alone), and why hugetlb rows are skipped (null: not).
 */
export function reserveHugetlb(
  pages: number,
  mayResize: boolean,
): { freeBefore: number; setTo: number | null; reason: string | null } {
  let freeBefore: number;
  try {
    freeBefore = read(FREE);
  } catch {
    return { freeBefore: 0, setTo: null, reason: 'this kernel has no 2 MiB hugetlb pool' };
  }
  if (freeBefore >= pages) return { freeBefore, setTo: null, reason: null };
  if (!mayResize) {
    return {
      freeBefore,
      setTo: null,
      reason: `needs ${pages} free 2 MiB pages, ${freeBefore} free: ${HUGETLB_POOL_FLAG} lets the run raise vm.nr_hugepages (root; restored after)`,
    };
  }
  if (process.getuid?.() !== 0) {
    return { freeBefore, setTo: null, reason: `needs ${pages} free 2 MiB pages (sysctl vm.nr_hugepages, as root)` };
  }
  const original = fs.readFileSync(NR_HUGEPAGES, 'latin1').trim();
  onCleanup('vm.nr_hugepages', () => fs.writeFileSync(NR_HUGEPAGES, original));
  const wanted = Number(original) + pages - freeBefore;
  console.error(`${HUGETLB_POOL_FLAG}: vm.nr_hugepages ${original} -> ${wanted} for this run (restored on exit)`);
  fs.writeFileSync(NR_HUGEPAGES, String(wanted));
  const free = read(FREE);
  return {
    freeBefore,
    setTo: wanted,
    reason: free >= pages ? null : `the kernel found ${free} of ${pages} free 2 MiB pages (memory too fragmented)`,
  };
}
