// What the kernel offers in huge pages, read from /sys each time it is
// asked (an administrator may resize a pool at any moment): the hugetlb
// pools (vm.nr_hugepages and its per-size twins) and transparent huge pages.
import { readdirSync } from 'node:fs';
import { readKernelFile } from '../kernel-file';
import { binding } from '../binding';

export interface HugetlbPool {
  /** Bytes per page: 2 MiB, 1 GiB, ... */
  pageSize: number;
  /** Pages in the pool (nr_hugepages), and those neither in use nor reserved by a mapping. */
  pages: number;
  available: number;
}

export interface HugePageSupport {
  /** One per page size the kernel knows, largest first; empty without hugetlbfs. */
  hugetlb: HugetlbPool[];
  /** Transparent huge pages: the mode ('never' when the kernel has none) and their size. */
  transparent: { mode: 'always' | 'madvise' | 'never'; pageSize: number };
}

const HUGEPAGES = '/sys/kernel/mm/hugepages';
const THP = '/sys/kernel/mm/transparent_hugepage';

function readNumber(path: string): number {
  try {
    return Number(readKernelFile(path).trim());
  } catch {
    return 0;
  }
}

function hugetlbPools(): HugetlbPool[] {
  let names: string[];
  try {
    names = readdirSync(HUGEPAGES);
  } catch {
    return [];
  }
  const pools: HugetlbPool[] = [];
  for (const name of names) {
    const kb = /^hugepages-(\d+)kB$/.exec(name)?.[1];
    if (kb === undefined) continue;
    const free = readNumber(`${HUGEPAGES}/${name}/free_hugepages`);
    const reserved = readNumber(`${HUGEPAGES}/${name}/resv_hugepages`);
    pools.push({
      pageSize: Number(kb) * 1024,
      pages: readNumber(`${HUGEPAGES}/${name}/nr_hugepages`),
      available: Math.max(0, free - reserved),
    });
  }
  return pools.sort((a, b) => b.pageSize - a.pageSize);
}

function transparentMode(): HugePageSupport['transparent'] {
  let mode: 'always' | 'madvise' | 'never' = 'never';
  try {
    const chosen = /\[(\w+)\]/.exec(readKernelFile(`${THP}/enabled`))?.[1];
    if (chosen === 'always' || chosen === 'madvise') mode = chosen;
  } catch {
    // no THP in this kernel
  }
  return { mode, pageSize: mode === 'never' ? 0 : readNumber(`${THP}/hpage_pmd_size`) };
}

/** The huge pages this machine offers now: hugetlb pools and transparent huge pages. */
export function hugePageSupport(): HugePageSupport {
  if (!binding.platform.hugePages) return { hugetlb: [], transparent: { mode: 'never', pageSize: 0 } };
  return { hugetlb: hugetlbPools(), transparent: transparentMode() };
}
