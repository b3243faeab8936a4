// A file of `bytes` that is not all zeros, written back so its pages are
// clean: reclaim does not write dirty file pages back for MADV_PAGEOUT, so
// only clean pages can be evicted without swap. Latency and jitter use it.
import fs from 'node:fs';

const MIB = 2 ** 20;

export function makeEvictableFile(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'wx', 0o600);
  try {
    const chunk = Buffer.alloc(MIB, 0x5a);
    for (let at = 0; at < bytes; at += MIB) fs.writeSync(fd, chunk, 0, Math.min(MIB, bytes - at));
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
