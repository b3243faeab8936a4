// Secret backends side by side, in one run: allocation + free, access (a
// read of every byte) and protect/unprotect, for memlock's 'secretmem' and
// 'mlock' backends (pooled and guarded) against sodium-native's
// sodium_malloc / sodium_free and sodium_mprotect_noaccess / _readwrite.
//
//   npm run build && node --import tsx bench/secrets/backends.ts [--count N] [--rounds R]
//
// CPU time (process.cpuUsage, user + system) per operation, the median of
// R rounds; the rounds interleave the contenders, so a busy machine slows
// them alike and the ratios hold. Not a test: it asserts nothing.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { sodium_free, sodium_malloc, sodium_mprotect_noaccess, sodium_mprotect_readwrite } from 'sodium-native';
import { allocSecret, capabilities, type SecretBuffer } from '../../lib/index';

const { values } = parseArgs({ options: { count: { type: 'string' }, rounds: { type: 'string' } } });
const COUNT = Number(values.count ?? 5000);
const ROUNDS = Number(values.rounds ?? 5);
const SIZE = 32;

function cpuNs(run: () => void): number {
  const start = process.cpuUsage();
  run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) * 1000;
}

interface Contender {
  name: string;
  alloc: () => Buffer;
  free: (buffer: Buffer) => void;
  protect?: (buffer: Buffer, on: boolean) => void;
}

const handles = new Map<Buffer, SecretBuffer>();
function memlock(backend: 'secretmem' | 'mlock', placement: 'pooled' | 'guarded'): Contender {
  return {
    name: `memlock ${backend} ${placement}`,
    alloc: () => {
      const secret = allocSecret(SIZE, { backend, placement });
      handles.set(secret.buffer, secret);
      return secret.buffer;
    },
    free: (buffer) => {
      handles.get(buffer)!.free();
      handles.delete(buffer);
    },
    ...(placement === 'guarded'
      ? { protect: (buffer: Buffer, on: boolean) => handles.get(buffer)!.protect(on ? 'noaccess' : 'readwrite') }
      : {}),
  };
}

const contenders: Contender[] = [
  ...(capabilities().secrets.backend === 'secretmem'
    ? [memlock('secretmem', 'pooled'), memlock('secretmem', 'guarded')]
    : []),
  memlock('mlock', 'pooled'),
  memlock('mlock', 'guarded'),
  {
    name: 'sodium-native sodium_malloc',
    alloc: () => sodium_malloc(SIZE),
    free: (buffer) => sodium_free(buffer),
    protect: (buffer, on) => (on ? sodium_mprotect_noaccess(buffer) : sodium_mprotect_readwrite(buffer)),
  },
];

type Figures = { alloc: number[]; free: number[]; access: number[]; protect: number[] };
const figures = new Map<string, Figures>(
  contenders.map((c) => [c.name, { alloc: [], free: [], access: [], protect: [] }]),
);

let sink = 0;
async function measure(): Promise<void> {
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const c of contenders) {
      const f = figures.get(c.name)!;
      const buffers: Buffer[] = new Array(COUNT);
      f.alloc.push(
        cpuNs(() => {
          for (let i = 0; i < COUNT; i += 1) buffers[i] = c.alloc();
        }) / COUNT,
      );
      for (const b of buffers) b.fill(0x5a);
      f.access.push(
        cpuNs(() => {
          for (const b of buffers) for (let j = 0; j < SIZE; j += 1) sink += b[j]!;
        }) / COUNT,
      );
      if (c.protect) {
        const protect = c.protect;
        f.protect.push(
          cpuNs(() => {
            for (const b of buffers) {
              protect(b, true);
              protect(b, false);
            }
          }) / COUNT,
        );
      }
      f.free.push(
        cpuNs(() => {
          for (const b of buffers) c.free(b);
        }) / COUNT,
      );
      await nextTurn(); // sodium_free's munmap and memlock's slab trim run here
    }
  }
}

function report(): void {
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const fmt = (ns: number): string =>
    Number.isNaN(ns) ? '-' : ns >= 1000 ? `${(ns / 1000).toFixed(2)} us` : `${ns.toFixed(0)} ns`;
  console.log(`secrets of ${SIZE} bytes, ${COUNT} per round, median of ${ROUNDS} rounds, CPU time per operation`);
  console.log('| allocator | alloc | free | access (32-byte read) | protect noaccess + readwrite |');
  console.log('|---|---|---|---|---|');
  for (const c of contenders) {
    const f = figures.get(c.name)!;
    console.log(
      `| ${c.name} | ${fmt(median(f.alloc))} | ${fmt(median(f.free))} | ${fmt(median(f.access))} | ${fmt(median(f.protect))} |`,
    );
  }
  if (sink === -1) console.log(sink);
}

void measure().then(report);
