// test-tier: quick
// readKernelFile, which every reader of /proc, /sys and cgroupfs in src/ uses:
// it returns what readFileSync returns, throws what it throws, and allocates
// no buffer per read (readFileSync takes a fresh 64 KiB for each pseudo file,
// which a monitor at its cgroup's limit paid for with an OOM kill).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { readKernelFile } from '../src/kernel-file';

t.test('the same text as readFileSync, small and past the buffer it starts with', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'memlock-kernel-file-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const bytes of [0, 1, 16 * 1024, 16 * 1024 + 1, 300 * 1024]) {
    const file = path.join(dir, `f${bytes}`);
    const data = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i += 1) data[i] = (i * 7 + 3) & 0xff;
    writeFileSync(file, data);
    t.equal(readKernelFile(file), readFileSync(file, 'latin1'), `${bytes} bytes`);
  }
  t.equal(readKernelFile('/proc/self/stat').split(' ')[0], String(process.pid), 'a procfs file');
  t.end();
});

t.test('errors are the ones readFileSync throws', (t) => {
  t.throws(() => readKernelFile('/proc/self/no-such-file'), { code: 'ENOENT' });
  t.throws(() => readKernelFile('/proc/self'), { code: 'EISDIR' });
  t.end();
});

t.test('reading pseudo files allocates no buffer per read', (t) => {
  readKernelFile('/proc/self/status');
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 1000; i += 1) {
    readKernelFile('/proc/self/status');
    readKernelFile('/proc/self/stat');
  }
  const grown = process.memoryUsage().arrayBuffers - before;
  t.ok(grown < 1 << 20, `2,000 reads grew array buffers by ${grown} bytes (readFileSync: about 64 KiB each)`);
  t.end();
});
