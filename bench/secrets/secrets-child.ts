// The million test for one allocator, run by secrets.ts in a process of
// its own: allocate COUNT 32-byte secrets, keep them all, report.
//
//   node --import tsx bench/secrets/secrets-child.ts pooled|guarded|sodium COUNT
//
// stdout, one line each: `P <n> <ms> [<mappings>]` progress (n secrets held
// after ms of allocating; the mapping count when sampled), then `R <json>`
// (a ChildResult). sodium-native aborts the process when sodium_malloc runs
// out (it hands libsodium's NULL to napi_create_external_arraybuffer), so the
// parent takes the count from the last `P` line: every 1024 secrets, and after
// every one once the mapping count nears vm.max_map_count. Mappings are
// sampled every 1024 secrets, and ever more often close to the cap, so the
// count at which the cap was reached is exact.
import fs from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { sodium_free, sodium_malloc } from 'sodium-native';
import { allocSecret, secretStats } from '../../lib/index';
import { maxMapCount } from '../common/machine';
import {
  ALLOCATORS,
  SECRET_SIZE,
  countMappings,
  memAvailableBytes,
  type AllocatorName,
  type ChildResult,
} from './secrets-lib';

const SAMPLE_EVERY = 1024; // progress line + mapping count
const MEM_EVERY = 65_536; // MemAvailable check
// Per-secret progress starts this many mappings below the cap: more than one
// sampling interval of sodium_malloc (4 mappings a secret) can add.
const NEAR_CAP = 16_384;
// Stop before the machine runs short: sodium_malloc keeps 2 pages a secret
// resident (1 locked), so a raised vm.max_map_count would let it pin gigabytes.
const MIN_AVAILABLE = 2 * 2 ** 30;
const WARMUP = 1000;

const [name, countArg] = process.argv.slice(2);
if (!(ALLOCATORS as readonly string[]).includes(name ?? '') || !/^\d+$/.test(countArg ?? '')) {
  console.error('usage: node --import tsx bench/secrets/secrets-child.ts pooled|guarded|sodium COUNT');
  process.exit(2);
}
const allocator = name as AllocatorName;
const count = Number(countArg);

// Synchronous, unbuffered: the line must be out before a possible abort.
// stdout may be a non-blocking pipe: when it is full, wait for the parent.
const out = (line: string): void => {
  const bytes = Buffer.from(`${line}\n`);
  for (let done = 0; done < bytes.length;) {
    try {
      done += fs.writeSync(1, bytes, done);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
};

// One allocator per process, so each call site below sees one function only.
// Every secret gets a byte written, as a real one would.
type Allocate = () => unknown;
type Free = (secret: unknown) => void;
const [allocate, free]: [Allocate, Free] =
  allocator === 'sodium'
    ? [
        () => {
          const b = sodium_malloc(SECRET_SIZE);
          b[0] = 1;
          return b;
        },
        (b) => sodium_free(b as Buffer),
      ]
    : allocator === 'guarded'
      ? [
          () => {
            const s = allocSecret(SECRET_SIZE, { placement: 'guarded' });
            s.buffer[0] = 1;
            return s;
          },
          (s) => (s as ReturnType<typeof allocSecret>).free(),
        ]
      : [
          () => {
            const s = allocSecret(SECRET_SIZE, { placement: 'pooled' });
            s.buffer[0] = 1;
            return s;
          },
          (s) => (s as ReturnType<typeof allocSecret>).free(),
        ];

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return `${code ?? error.name}: ${error.message}`;
  }
  return String(error);
}

async function main(): Promise<void> {
  // Warm-up: load and JIT the path, then let deferred frees (a Node immediate
  // for sodium-native, a trim for memlock) run before the baseline is taken.
  const warm: unknown[] = [];
  for (let i = 0; i < WARMUP; i++) warm.push(allocate());
  for (const s of warm) free(s);
  warm.length = 0;
  await nextTurn();
  await nextTurn();

  const cap = maxMapCount();
  const baselineMappings = countMappings();
  const held: unknown[] = [];
  let succeeded = 0;
  let error: string | null = null;
  let stopped: string | null = null;
  let perSecret = false;
  let nextSample = SAMPLE_EVERY;
  // Secrets held when the mapping count first stood at vm.max_map_count: any
  // made after that cannot have guard pages (mappings) of their own.
  let atCap: number | null = null;
  let bookkeeping = 0n;

  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    try {
      held.push(allocate());
    } catch (e) {
      error = describe(e);
      break;
    }
    succeeded = i + 1;
    if (perSecret || succeeded === nextSample || succeeded % MEM_EVERY === 0) {
      const b0 = process.hrtime.bigint();
      const ms = Number(b0 - t0 - bookkeeping) / 1e6;
      if (succeeded === nextSample) {
        const mappings = countMappings();
        out(`P ${succeeded} ${ms.toFixed(3)} ${mappings}`);
        nextSample += SAMPLE_EVERY;
        if (cap !== null) {
          const room = cap - mappings;
          if (room <= 0 && atCap === null) atCap = succeeded;
          if (room < NEAR_CAP) perSecret = true;
          // Closing in on the cap, sample more often, halving the distance
          // (a sample reads all of maps: ~25 ms at 65k lines).
          if (atCap === null && room < NEAR_CAP) nextSample = succeeded + Math.max(1, Math.floor(room / 8));
        }
      } else if (perSecret) {
        out(`P ${succeeded} ${ms.toFixed(3)}`);
      }
      if (succeeded % MEM_EVERY === 0) {
        const available = memAvailableBytes();
        if (available !== null && available < MIN_AVAILABLE) {
          stopped = `MemAvailable ${(available / 2 ** 20).toFixed(0)} MiB < ${MIN_AVAILABLE / 2 ** 20} MiB`;
        }
      }
      bookkeeping += process.hrtime.bigint() - b0;
      if (stopped !== null) break;
    }
  }
  const elapsed = process.hrtime.bigint() - t0;

  const peakMappings = countMappings();
  const memory = process.memoryUsage();
  const result: ChildResult = {
    allocator,
    requested: count,
    // Read last, so every secret is reachable while the figures above are taken.
    succeeded: held.length,
    error,
    stopped,
    baselineMappings,
    peakMappings,
    maxMapCount: cap,
    atCap,
    pool: allocator === 'sodium' ? null : secretStats(),
    allocMs: Number(elapsed - bookkeeping) / 1e6,
    bookkeepingMs: Number(bookkeeping) / 1e6,
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
  };
  out(`R ${JSON.stringify(result)}`);
  // Now, without freeing a million secrets one by one: the parent only wants
  // the figures, and the kernel unmaps everything at exit anyway.
  process.exit(0);
}

void main();
