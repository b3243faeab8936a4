// movedPages(): did the kernel move locked memory to other physical frames?
// mlock keeps a page resident, not in place: compaction, NUMA balancing,
// khugepaged and CMA may migrate it (docs/locked-is-not-pinned.md). The
// frame of each page is read from /proc/self/pagemap, which shows page frame
// numbers only to CAP_SYS_ADMIN; any other process reads 0 for every PFN.
import { closeSync, openSync, readSync } from 'node:fs';
import { unsupported } from '../capabilities';
import { binding } from '../binding';
import { MemlockError, systemCode } from '../errors';
import { locks } from './diagnostics';

const PAGEMAP_ENTRY = 8;
// Bits of a pagemap entry's high word: 63 present, 62 swapped; PFN in 0..54.
const PRESENT = 0x80000000;
const SWAPPED = 0x40000000;
const PFN_HIGH_BITS = 0x7fffff;
/** Frame recorded for a page that had none (not present, or swapped). */
const NO_FRAME = -1;

export interface MovedPagesReport {
  /**
   * False when the kernel hides frame numbers from this process (it lacks
   * CAP_SYS_ADMIN: pagemap reads PFN 0 for every page): nothing could be
   * compared, and every count but lockedPages is 0.
   */
  readable: boolean;
  /** Pages under a memlock lock now (each page once, whatever its count). */
  lockedPages: number;
  /** Of those, pages with a frame to compare (present in RAM). */
  presentPages: number;
  /** Pages seen for the first time by this call: their frame is the baseline for the next call. */
  newPages: number;
  /** Pages whose frame differs from the one recorded by the previous call. */
  movedPages: number;
  /** The moved pages as runs of consecutive addresses. */
  moved: { address: number; bytes: number }[];
}

interface Run {
  start: number;
  pages: number;
  frames: Float64Array;
}

// The frames recorded by the last call: runs sorted by address, 8 bytes per
// locked page (1/512 of the locked memory with 4 KiB pages). Pages no longer
// locked are dropped at the next call, so it never outgrows the locks.
let recorded: Run[] = [];

/** The locked pages as disjoint runs, sorted: overlapping and adjacent locks merged. */
function lockedRuns(pageSize: number): { start: number; pages: number }[] {
  const ranges = locks()
    .map((l) => ({ start: l.start, end: l.start + l.pages * pageSize }))
    .sort((a, b) => a.start - b.start);
  const runs: { start: number; end: number }[] = [];
  for (const r of ranges) {
    const last = runs.at(-1);
    if (last !== undefined && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else runs.push({ ...r });
  }
  return runs.map((r) => ({ start: r.start, pages: (r.end - r.start) / pageSize }));
}

function pagemapFailure(error: unknown, syscall: string): MemlockError {
  const e = error as NodeJS.ErrnoException;
  const code = e.code ?? 'EIO';
  return new MemlockError(`cannot read /proc/self/pagemap: ${e.message}`, {
    code: systemCode(code),
    ...(e.errno === undefined ? {} : { errno: e.errno }),
    syscall,
  });
}

/** The frame of each page of a run; NO_FRAME where there is none. Sets `anyFrame` when a PFN is non-zero. */
function readFrames(fd: number, start: number, pages: number, pageSize: number, seen: { anyFrame: boolean }) {
  const frames = new Float64Array(pages);
  // In slices, so that a large lock needs no large temporary buffer.
  const slicePages = Math.min(pages, 16384);
  const buffer = Buffer.allocUnsafe(slicePages * PAGEMAP_ENTRY);
  for (let first = 0; first < pages; first += slicePages) {
    const count = Math.min(slicePages, pages - first);
    const bytes = count * PAGEMAP_ENTRY;
    let read: number;
    try {
      read = readSync(fd, buffer, 0, bytes, (start / pageSize + first) * PAGEMAP_ENTRY);
    } catch (error) {
      throw pagemapFailure(error, 'pread');
    }
    for (let i = 0; i < count; i += 1) {
      if (i * PAGEMAP_ENTRY >= read) {
        frames[first + i] = NO_FRAME;
        continue;
      }
      const low = buffer.readUInt32LE(i * PAGEMAP_ENTRY);
      const high = buffer.readUInt32LE(i * PAGEMAP_ENTRY + 4);
      if ((high & PRESENT) === 0 || (high & SWAPPED) !== 0) {
        frames[first + i] = NO_FRAME;
        continue;
      }
      const frame = (high & PFN_HIGH_BITS) * 2 ** 32 + low;
      if (frame !== 0) seen.anyFrame = true;
      frames[first + i] = frame;
    }
  }
  return frames;
}

function openPagemap(): number {
  try {
    return openSync('/proc/self/pagemap', 'r');
  } catch (error) {
    throw pagemapFailure(error, 'open');
  }
}

/**
 * Whether the kernel shows this process real frame numbers: a page just
 * written reads a PFN above 0 (without CAP_SYS_ADMIN every PFN reads 0).
 * Asked only when no locked page showed a frame (none locked, or none present).
 */
function framesVisible(pageSize: number): boolean {
  const page = Buffer.alloc(8, 1);
  const fd = openPagemap();
  try {
    const seen = { anyFrame: false };
    const start = binding.addressOf(page) - (binding.addressOf(page) % pageSize);
    readFrames(fd, start, 1, pageSize, seen);
    return seen.anyFrame;
  } finally {
    closeSync(fd);
  }
}

/** The frame recorded for the page at `address`, or undefined if it was not recorded. */
function recordedFrame(address: number, pageSize: number): number | undefined {
  let low = 0;
  let high = recorded.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const run = recorded[middle]!;
    if (address < run.start) high = middle - 1;
    else if (address >= run.start + run.pages * pageSize) low = middle + 1;
    else return run.frames[(address - run.start) / pageSize];
  }
  return undefined;
}

/**
 * How many locked pages changed physical frame since the previous call.
 *
 * Baseline: each call records the frame of every page locked at that
 * moment; the next call compares with it. A page is compared from the
 * second call that sees it locked (the first counts it in `newPages`), so to
 * watch memory from the moment it is locked, call movedPages() right after
 * lock(). Pages that were unlocked meanwhile are forgotten; a page that was
 * not present (MLOCK_ONFAULT, never touched) at either call is not compared.
 *
 * A move is not a failure of the lock: the page stayed resident, but a
 * thread touching it during the migration waited (see
 * docs/locked-is-not-pinned.md; vm.compact_unevictable_allowed=0 stops
 * compaction from moving locked pages). Cost: one pread of 8 bytes per
 * locked page, and 8 bytes of memory per locked page kept for the next
 * call. The reading is not atomic with locks taken or released by other
 * threads meanwhile.
 *
 * Without CAP_SYS_ADMIN the kernel shows every frame as 0: the report says
 * `readable: false` and compares nothing.
 */
export function movedPages(): MovedPagesReport {
  if (process.platform !== 'linux') {
    throw unsupported('movedPages()', 'only Linux shows a process its physical frames (/proc/self/pagemap)');
  }
  const pageSize = binding.pageSize;
  const runs = lockedRuns(pageSize);
  const fd = openPagemap();
  const seen = { anyFrame: false };
  let now: Run[];
  try {
    now = runs.map((r) => ({ ...r, frames: readFrames(fd, r.start, r.pages, pageSize, seen) }));
  } finally {
    closeSync(fd);
  }
  const lockedPages = runs.reduce((sum, r) => sum + r.pages, 0);
  let presentPages = 0;
  for (const run of now) for (const frame of run.frames) if (frame !== NO_FRAME) presentPages += 1;
  if (!seen.anyFrame && !framesVisible(pageSize)) {
    // Every present page reads PFN 0: the kernel hides frames from this process.
    recorded = [];
    return { readable: false, lockedPages, presentPages, newPages: 0, movedPages: 0, moved: [] };
  }
  let newPages = 0;
  let moved = 0;
  const movedRuns: { address: number; bytes: number }[] = [];
  for (const run of now) {
    for (let i = 0; i < run.pages; i += 1) {
      const address = run.start + i * pageSize;
      const before = recordedFrame(address, pageSize);
      const after = run.frames[i]!;
      if (before === undefined) {
        newPages += 1;
        continue;
      }
      if (before === NO_FRAME || after === NO_FRAME || before === after) continue;
      moved += 1;
      const last = movedRuns.at(-1);
      if (last !== undefined && last.address + last.bytes === address) last.bytes += pageSize;
      else movedRuns.push({ address, bytes: pageSize });
    }
  }
  recorded = now;
  return { readable: true, lockedPages, presentPages, newPages, movedPages: moved, moved: movedRuns };
}
