// Reads the kernel's pseudo files (/proc, /sys, cgroupfs) into one reused
// buffer. readFileSync sees their size as 0 and reads them in fresh 64 KiB
// chunks, held until the next GC: a monitor reading a few small files per
// event grew by megabytes, charged to its memory cgroup, and a process
// already at its cgroup's limit was OOM-killed for it.
import { closeSync, openSync, readSync } from 'node:fs';

const INITIAL_BYTES = 16 * 1024;
/** A buffer grown past this for one large file (smaps) is not kept. */
const KEPT_BYTES = 256 * 1024;
let scratch = Buffer.allocUnsafeSlow(INITIAL_BYTES);

/** The whole file as latin1 text; throws what openSync/readSync throw (ErrnoException). */
export function readKernelFile(file: string): string {
  const fd = openSync(file, 'r');
  try {
    let length = 0;
    for (;;) {
      if (length === scratch.length) {
        const larger = Buffer.allocUnsafeSlow(scratch.length * 2);
        scratch.copy(larger, 0, 0, length);
        scratch = larger;
      }
      const read = readSync(fd, scratch, length, scratch.length - length, null);
      if (read === 0) break;
      length += read;
    }
    const text = scratch.toString('latin1', 0, length);
    if (scratch.length > KEPT_BYTES) scratch = Buffer.allocUnsafeSlow(INITIAL_BYTES);
    return text;
  } finally {
    closeSync(fd);
  }
}
