// Files for the paging tests to map (the testing build's mapFile hook,
// test/helpers/hooks.ts, maps them).
import fs from 'node:fs';

/** A file of `bytes` that is not all zeros, written back (its pages clean, so reclaim can drop them). */
export function makeDataFile(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'wx', 0o600);
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (let at = 0; at < bytes; at += chunk.length) {
      chunk.fill(0x5a);
      chunk.writeUInt32LE(at, 0);
      fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - at));
    }
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
