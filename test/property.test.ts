// Property tests: random sequences of lock / release / unlock / limit changes
// on the public API, checked after every step against a reference model (one
// counter per page, test/helpers/model.ts) and against the kernel's account
// (/proc/self/smaps VmFlags per page).
//
// Replay a failure: FC_SEED=<seed> [FC_PATH=<path>] npx tap test/property.test.ts
// Run longer:       FC_RUNS=2000 FC_TIME_LIMIT=1200 npx tap --timeout=1300 test/property.test.ts
//                   (FC_MAX_OPS=80: longer sequences, deeper states)
// test-tier: quick
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import fc from 'fast-check';
import t from 'tap';
import { binding } from '../src/binding';
import {
  getLockablePageLimit,
  lock,
  lockCounts,
  MemlockError,
  pageSize,
  setLockablePageLimit,
  stats,
  unlock,
  type LimitMessage,
  type PageLock,
  type StickyMessage,
} from '../src/index';
import { alignedPages, kernelPageStates } from './helpers/kernel';
import { CountModel, STICKY, type ModelLock } from './helpers/model';
import { CAN_ON_FAULT, needs } from './helpers/capability';

const ARENA_PAGES = 32;
const ARENA_BYTES = ARENA_PAGES * pageSize;

const defaultLimit = getLockablePageLimit();
t.teardown(() => setLockablePageLimit(defaultLimit));

// Arenas with sticky pages stay locked (and counted) for the life of the
// process: keep them reachable so their memory is never handed to a later
// run's arena, which would then start with counts of 0xFFFF.
const stickyArenas: Uint8Array[] = [];

// What memlock publishes, to check against the model op by op.
const published = { stickyPages: 0, limit: [] as LimitMessage[] };
const onSticky = (message: unknown) => {
  published.stickyPages += (message as StickyMessage).pages;
};
const onLimit = (message: unknown) => {
  published.limit.push(message as LimitMessage);
};
diagnosticsChannel.subscribe('memlock:sticky', onSticky);
diagnosticsChannel.subscribe('memlock:limit', onLimit);
t.teardown(() => {
  diagnosticsChannel.unsubscribe('memlock:sticky', onSticky);
  diagnosticsChannel.unsubscribe('memlock:limit', onLimit);
});

// ---------------------------------------------------------------------------
// Views

const KINDS = [
  'Uint8Array',
  'Buffer',
  'DataView',
  'Float64Array',
  'Int32Array',
  'Uint16Array',
  'BigUint64Array',
  'Uint8ClampedArray',
] as const;
type Kind = (typeof KINDS)[number];

const TYPED = {
  Uint8Array,
  Float64Array,
  Int32Array,
  Uint16Array,
  BigUint64Array,
  Uint8ClampedArray,
} as const;

function elementSize(kind: Kind): number {
  return kind === 'Buffer' || kind === 'DataView' ? 1 : TYPED[kind].BYTES_PER_ELEMENT;
}

/**
 * A new view object of `kind` over exactly bytes [byteOffset, byteOffset +
 * length) of `buffer`; a Uint8Array where the kind cannot be aligned there,
 * so the bytes (what memlock matches on) never depend on the kind.
 */
function makeView(buffer: ArrayBuffer, byteOffset: number, length: number, kind: Kind): ArrayBufferView {
  if (kind === 'DataView') return new DataView(buffer, byteOffset, length);
  if (kind === 'Buffer') return Buffer.from(buffer, byteOffset, length);
  const Ctor = TYPED[kind];
  const size = Ctor.BYTES_PER_ELEMENT;
  if (byteOffset % size !== 0 || length % size !== 0) return new Uint8Array(buffer, byteOffset, length);
  return new Ctor(buffer, byteOffset, length / size);
}

function sameBytes(view: ArrayBufferView, kind: Kind): ArrayBufferView {
  // Arenas and Buffer pools are plain ArrayBuffers, never shared ones.
  return makeView(view.buffer as ArrayBuffer, view.byteOffset, view.byteLength, kind);
}

// ---------------------------------------------------------------------------
// Operations: plain records, so a shrunk counterexample can be pasted into a
// regression test as is. Indices pick among the locks held (or released) at
// that point, modulo their number, so every shrunk sequence stays meaningful.

type Op =
  /** lock() bytes [off, off + len) of the arena through a view of `kind`. */
  | { op: 'lock'; off: number; len: number; kind: Kind; onFault: boolean }
  /** Another lock on exactly the bytes of held lock #i, through a new view object. */
  | { op: 'relock'; i: number; kind: Kind; onFault: boolean }
  /** lock() a fresh Buffer.allocUnsafe(size): a slice of the shared pool. */
  | { op: 'pool'; size: number; kind: Kind; onFault: boolean }
  /** release() (or dispose) held lock #i: out of order. */
  | { op: 'release'; i: number; dispose: boolean }
  /** release() lock #i of those already released: changes nothing. */
  | { op: 'releaseAgain'; i: number }
  /** unlock() a new view object over the bytes of held lock #i. */
  | { op: 'unlock'; i: number; kind: Kind }
  /** unlock() arbitrary arena bytes: usually ERR_MEMLOCK_NOT_LOCKED. */
  | { op: 'unlockBytes'; off: number; len: number; kind: Kind }
  /** setLockablePageLimit(what is locked now + delta): may be below it. */
  | { op: 'limit'; delta: number }
  /** The default limit back. */
  | { op: 'unlimit' }
  /**
   * Lock arena pages [page, page + pages) until the fullest one saturates
   * (sticky for good), then release those locks, keeping the oldest if `keep`.
   */
  | { op: 'burst'; page: number; pages: number; onFault: boolean; keep: boolean };

interface Entry {
  handle: PageLock;
  view: ArrayBufferView;
}

/** One run: a fresh arena, the model, and the real handles behind the model's locks. */
class World {
  readonly arena = alignedPages(ARENA_PAGES);
  readonly arenaFirst = binding.addressOf(this.arena) / pageSize;
  readonly base = stats();
  readonly model = new CountModel(pageSize, this.base.lockedPages, getLockablePageLimit());
  readonly entries = new Map<ModelLock, Entry>();
  readonly released: Entry[] = [];
  readonly pools: Buffer[] = [];

  constructor() {
    // A precondition of the harness, not a property of memlock.
    assert.ok(Number.isInteger(this.arenaFirst), 'the arena is page-aligned');
    assert.ok(
      lockCounts(this.arena).every((count) => count === 0),
      'a fresh arena starts with no counts (a sticky arena was reused?)',
    );
  }

  /** Bytes [off, off + len) of the arena, clamped into it and aligned for `kind`. */
  arenaView(off: number, len: number, kind: Kind): ArrayBufferView {
    const size = elementSize(kind);
    const start = Math.min(off, ARENA_BYTES - 1);
    const alignedStart = start - (start % size);
    let length = Math.min(len, ARENA_BYTES - alignedStart);
    length = Math.max(size, length - (length % size));
    return makeView(this.arena.buffer as ArrayBuffer, this.arena.byteOffset + alignedStart, length, kind);
  }

  heldAt(i: number): ModelLock | undefined {
    const held = this.model.held;
    return held.length === 0 ? undefined : held[i % held.length];
  }

  entry(lock: ModelLock): Entry {
    const entry = this.entries.get(lock);
    if (entry === undefined) throw new Error(`harness: no handle for model lock #${lock.seq}`);
    return entry;
  }
}

// What the generated runs exercised, printed after the property: a generator
// that stopped reaching limit refusals or on-fault pages would show here.
const tally = new Map<string, number>();
function count(what: string): void {
  tally.set(what, (tally.get(what) ?? 0) + 1);
}

/** lock() `view` and the model alike; returns 'locked' or the error code. */
function lockBoth(w: World, view: ArrayBufferView, asked: boolean): string {
  // Where the backend has no onFault, the same sequences run with plain locks.
  const onFault = asked && CAN_ON_FAULT;
  count(`view ${view.constructor.name}`);
  const address = binding.addressOf(view);
  const { first, pages } = w.model.span(address, view.byteLength);
  const newPages = w.model.newPages(first, pages);
  const expected = w.model.lock(address, view.byteLength, onFault);
  published.stickyPages = 0;
  published.limit.length = 0;
  let handle: PageLock;
  try {
    handle = lock(view, { onFault });
  } catch (err) {
    assert.ok(err instanceof MemlockError, `lock threw ${String(err)}`);
    assert.equal(err.code, expected.ok ? 'locked' : expected.code, 'lock(): outcome');
    // Refused by the limit: memlock:limit says why, in the model's numbers.
    const [message] = published.limit;
    assert.ok(message !== undefined, 'memlock:limit published the refusal');
    assert.deepEqual(
      {
        pages: message.pages,
        newPages: message.newPages,
        lockedPages: message.lockedPages,
        limitPages: message.limitPages,
      },
      { pages, newPages, lockedPages: w.model.baseLockedPages + w.model.lockedPages, limitPages: w.model.limit },
      'memlock:limit message',
    );
    return err.code;
  }
  if (!expected.ok) {
    handle.release(); // keep the process clean for the runs that follow
    assert.fail(`lock(): expected ${expected.code}, but it locked`);
  }
  w.entries.set(expected.lock, { handle, view });
  assert.equal(handle.pages, pages, 'PageLock.pages');
  assert.equal(handle.bytes, pages * pageSize, 'PageLock.bytes');
  assert.equal(handle.onFault, onFault, 'PageLock.onFault');
  assert.equal(published.stickyPages, expected.newlySticky, 'pages published on memlock:sticky');
  return 'locked';
}

function releaseBoth(w: World, held: ModelLock, dispose: boolean): void {
  const entry = w.entry(held);
  if (dispose) entry.handle[Symbol.dispose]();
  else entry.handle.release();
  w.model.release(held);
  w.entries.delete(held);
  w.released.push(entry);
}

/** Applies one operation to memlock and the model; returns its outcome. */
function apply(w: World, op: Op): string {
  switch (op.op) {
    case 'lock':
      return lockBoth(w, w.arenaView(op.off, op.len, op.kind), op.onFault);
    case 'relock': {
      const held = w.heldAt(op.i);
      if (held === undefined) return 'none held';
      return lockBoth(w, sameBytes(w.entry(held).view, op.kind), op.onFault);
    }
    case 'pool': {
      const buffer = Buffer.allocUnsafe(op.size);
      w.pools.push(buffer);
      return lockBoth(w, sameBytes(buffer, op.kind), op.onFault);
    }
    case 'release': {
      const held = w.heldAt(op.i);
      if (held === undefined) return 'none held';
      releaseBoth(w, held, op.dispose);
      return 'released';
    }
    case 'releaseAgain': {
      if (w.released.length === 0) return 'none released';
      w.released[op.i % w.released.length]!.handle.release();
      return 'released again';
    }
    case 'unlock': {
      const held = w.heldAt(op.i);
      if (held === undefined) return 'none held';
      return unlockBoth(w, sameBytes(w.entry(held).view, op.kind));
    }
    case 'unlockBytes':
      return unlockBoth(w, w.arenaView(op.off, op.len, op.kind));
    case 'limit': {
      const limit = Math.max(0, w.model.baseLockedPages + w.model.lockedPages + op.delta);
      setLockablePageLimit(limit);
      w.model.limit = limit;
      return `limit ${limit - w.model.baseLockedPages}`;
    }
    case 'unlimit':
      setLockablePageLimit(defaultLimit);
      w.model.limit = defaultLimit;
      return 'limit default';
    case 'burst':
      return burst(w, op.page, op.pages, op.onFault, op.keep);
  }
}

/** unlock(view): the model names the lock it must release (the newest on those bytes). */
function unlockBoth(w: World, view: ArrayBufferView): string {
  const address = binding.addressOf(view);
  const expected = w.model.newestOn(address, view.byteLength);
  let code = 'unlocked';
  try {
    unlock(view);
  } catch (err) {
    assert.ok(err instanceof MemlockError, `unlock threw ${String(err)}`);
    code = err.code;
  }
  assert.equal(code, expected === undefined ? 'ERR_MEMLOCK_NOT_LOCKED' : 'unlocked', 'unlock(): outcome');
  if (expected !== undefined) {
    // The model released it: move its handle along (the released flags are checked next).
    const entry = w.entry(expected);
    w.model.release(expected);
    w.entries.delete(expected);
    w.released.push(entry);
  }
  return code;
}

function burst(w: World, page: number, pages: number, asked: boolean, keep: boolean): string {
  const onFault = asked && CAN_ON_FAULT;
  const first = page % ARENA_PAGES;
  const span = Math.min(pages, ARENA_PAGES - first);
  // Starts and ends mid-page, covering exactly pages first .. first + span - 1.
  const view = w.arena.subarray(first * pageSize + 1, (first + span) * pageSize - 1);
  const highest = Math.max(...w.model.counts(w.arenaFirst + first, span));
  const times = highest === STICKY ? 1 : STICKY - highest;
  const address = binding.addressOf(view);
  const taken: [ModelLock, PageLock][] = [];
  let expectedSticky = 0;
  published.stickyPages = 0;
  try {
    for (let k = 0; k < times; k += 1) {
      const expected = w.model.lock(address, view.byteLength, onFault);
      if (!expected.ok) {
        assert.throws(() => lock(view, { onFault }), { code: expected.code }, 'burst: first lock over the limit');
        return expected.code;
      }
      expectedSticky += expected.newlySticky;
      taken.push([expected.lock, lock(view, { onFault })]);
    }
    assert.equal(published.stickyPages, expectedSticky, 'burst: pages published on memlock:sticky');
  } finally {
    // Newest first: the model's release finds the newest at once.
    for (let k = taken.length - 1; k >= (keep ? 1 : 0); k -= 1) {
      const [held, handle] = taken[k]!;
      handle.release();
      w.model.release(held);
    }
    const kept = keep ? taken[0] : undefined;
    if (kept !== undefined) w.entries.set(kept[0], { handle: kept[1], view });
  }
  return `sticky ${w.model.stickyPages}`;
}

// ---------------------------------------------------------------------------
// The checks after every operation

function kernelPages(w: World): string {
  return kernelPageStates(w.arenaFirst, ARENA_PAGES);
}

function modelPages(w: World): string {
  return w.model.pageStates(w.arenaFirst, ARENA_PAGES);
}

const NO_CALL = new Set(['none held', 'none released']);

function check(w: World): void {
  const { model, base } = w;
  assert.deepEqual(Array.from(lockCounts(w.arena)), model.counts(w.arenaFirst, ARENA_PAGES), 'lockCounts(arena)');
  // Pool pages are shared with other code: their counts only.
  for (const buffer of w.pools) {
    const { first, pages } = model.span(binding.addressOf(buffer), buffer.length);
    assert.deepEqual(Array.from(lockCounts(buffer)), model.counts(first, pages), 'lockCounts(pool Buffer)');
  }
  const now = stats();
  assert.deepEqual(
    {
      lockedPages: now.lockedPages - base.lockedPages,
      lockedBytes: now.lockedBytes - base.lockedBytes,
      stickyPages: now.stickyPages - base.stickyPages,
      heldLocks: now.heldLocks - base.heldLocks,
      limitPages: now.limitPages,
    },
    {
      lockedPages: model.lockedPages,
      lockedBytes: model.lockedPages * pageSize,
      stickyPages: model.stickyPages,
      heldLocks: model.held.length,
      limitPages: model.limit,
    },
    'stats() deltas',
  );
  // The kernel, per arena page: locked iff the count is > 0; on fault only
  // while every lock on it since it was 0 asked for onFault.
  const kernel = kernelPages(w);
  assert.equal(kernel, modelPages(w), 'kernel VmFlags per arena page (L lo, F lo+lf, - none)');
  if (kernel.includes('F') && kernel.includes('L')) count('arena with L and F pages');
  for (const held of model.held) assert.equal(w.entry(held).handle.released, false, `lock #${held.seq}: released`);
  for (const { handle } of w.released) assert.equal(handle.released, true, 'a released lock: released');
}

/**
 * Runs `ops` against memlock and the model, checking after each (and calling
 * `onStep`, for fixed scenarios to assert what they expect in plain numbers);
 * then releases everything and checks that only sticky pages remain. Returns
 * the outcome of each op. Always leaves the process clean (limit, locks).
 */
function runScenario(ops: readonly Op[], onStep?: (step: number, w: World) => void): string[] {
  const w = new World();
  const outcomes: string[] = [];
  let step = 0;
  try {
    for (step = 0; step < ops.length; step += 1) {
      const outcome = apply(w, ops[step]!);
      outcomes.push(outcome);
      count(`${ops[step]!.op}: ${outcome.replace(/\d+/g, 'N')}`);
      // An op that found nothing to act on called no memlock function.
      if (!NO_CALL.has(outcome)) check(w);
      onStep?.(step, w);
    }
    step = ops.length;
    setLockablePageLimit(defaultLimit);
    w.model.limit = defaultLimit;
    for (const held of [...w.model.held].reverse()) releaseBoth(w, held, false);
    check(w);
    // Bursts hit only the arena, so what stays counted is its sticky pages.
    assert.equal(w.model.lockedPages, w.model.stickyPages, 'after releasing everything only sticky pages stay locked');
    return outcomes;
  } catch (err) {
    if (err instanceof Error) {
      const where = step < ops.length ? `after op #${step} ${JSON.stringify(ops[step])}` : 'after releasing everything';
      err.message = `${where} (outcomes so far: ${JSON.stringify(outcomes)}): ${err.message}`;
    }
    throw err;
  } finally {
    for (const { handle } of w.entries.values()) handle.release();
    setLockablePageLimit(defaultLimit);
    if (w.model.stickyPages > 0) stickyArenas.push(w.arena);
  }
}

// ---------------------------------------------------------------------------
// Generators

const kindArb = fc.constantFrom(...KINDS);
// Page boundaries and one byte either side, where an off-by-one in the page
// span would show; uniform offsets almost never land there.
const nearBoundary = (minPages: number, maxPages: number) =>
  fc
    .tuple(fc.integer({ min: minPages, max: maxPages }), fc.constantFrom(-1, 0, 1))
    .map(([pages, d]) => pages * pageSize + d);
const offArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: ARENA_BYTES - 1 }) },
  { weight: 1, arbitrary: nearBoundary(0, ARENA_PAGES - 1).map((off) => Math.max(0, off)) },
);
// Mostly a page or two (overlaps, mid-page ends), sometimes up to the whole arena.
const lenArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 2 * pageSize }) },
  { weight: 2, arbitrary: nearBoundary(1, 4) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: ARENA_BYTES }) },
);
const indexArb = fc.nat({ max: 63 });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant('lock' as const),
      off: offArb,
      len: lenArb,
      kind: kindArb,
      onFault: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant('relock' as const), i: indexArb, kind: kindArb, onFault: fc.boolean() }),
  },
  // Below 4096 bytes allocUnsafe slices the shared 8 KiB pool.
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('pool' as const),
      size: fc.integer({ min: 1, max: 4095 }),
      kind: kindArb,
      onFault: fc.boolean(),
    }),
  },
  { weight: 7, arbitrary: fc.record({ op: fc.constant('release' as const), i: indexArb, dispose: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('releaseAgain' as const), i: indexArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('unlock' as const), i: indexArb, kind: kindArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('unlockBytes' as const), off: offArb, len: lenArb, kind: kindArb }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('limit' as const), delta: fc.integer({ min: -6, max: 6 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'unlimit' as const }) },
  // Rare: ~10 ms of locks each, and sticky pages are for good.
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('burst' as const),
      page: fc.nat({ max: ARENA_PAGES - 1 }),
      pages: fc.integer({ min: 1, max: 2 }),
      onFault: fc.boolean(),
      keep: fc.boolean(),
    }),
  },
);

function envInt(name: string): number | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : Number.parseInt(value, 10);
}

// ---------------------------------------------------------------------------

t.test('property: random lock sequences agree with the model and the kernel', (t) => {
  const seed = envInt('FC_SEED') ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  const path = process.env['FC_PATH'];
  const numRuns = envInt('FC_RUNS') ?? 50;
  // Printed up front too, so a crash (not a thrown failure) can be replayed.
  t.comment(`fast-check seed ${seed}: replay with FC_SEED=${seed} npx tap test/property.test.ts`);
  const timeLimit = (envInt('FC_TIME_LIMIT') ?? 150) * 1000;
  const started = Date.now();
  let runs = 0;
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: envInt('FC_MAX_OPS') ?? 24, size: 'max' }), (ops) => {
      runs += 1;
      runScenario(ops);
    }),
    {
      seed,
      numRuns,
      ...(path !== undefined && path !== '' ? { path } : {}),
      // Shrinking reruns scenarios at ~10 ms of smaps per step: stop it (and
      // report the smallest case found so far) well before tap's 600 s
      // timeout. Long hunts (FC_RUNS) raise it with FC_TIME_LIMIT (seconds).
      plugins: [fc.interruptAfterTimeLimit(timeLimit)],
    },
  );
  // Fewer runs than asked means the time limit cut the property short.
  t.comment(`${runs} of ${numRuns} runs in ${Date.now() - started} ms`);
  t.comment(
    `exercised: ${[...tally]
      .sort()
      .map(([what, n]) => `${what} ${n}`)
      .join(', ')}`,
  );
  t.equal(stats().limitPages, defaultLimit, 'the limit is restored');
  t.end();
});

// ---------------------------------------------------------------------------
// Regressions: generated scenarios kept as fixed cases, so that they run the
// same way every time. Each also states what it expects in plain numbers, not
// only through the model. Indices pick among held locks, oldest first.

/** Counts of the arena's first `n` pages. */
function firstCounts(w: World, n: number): number[] {
  return Array.from(lockCounts(w.arena)).slice(0, n);
}

t.test('regression: overlapping mid-page views of every kind, released out of order', (t) => {
  const ps = pageSize;
  const counts: number[][] = [];
  const held: number[][] = [];
  const outcomes = runScenario(
    [
      { op: 'lock', off: 100, len: 2 * ps, kind: 'Uint8Array', onFault: false }, // #1: pages 0-2
      { op: 'lock', off: ps + 200, len: ps, kind: 'DataView', onFault: false }, // #2: pages 1-2
      { op: 'lock', off: 2 * ps - 8, len: 2 * ps, kind: 'Float64Array', onFault: false }, // #3: pages 1-3
      { op: 'relock', i: 1, kind: 'Buffer', onFault: false }, // #4: the bytes of #2 again
      { op: 'release', i: 0, dispose: false }, // #1, the oldest
      { op: 'unlock', i: 0, kind: 'Uint8Array' }, // #2's bytes, a new view: releases #4, the newest on them
      { op: 'release', i: 1, dispose: true }, // #3
      { op: 'release', i: 0, dispose: false }, // #2
      { op: 'releaseAgain', i: 0 },
      { op: 'releaseAgain', i: 2 },
      { op: 'unlockBytes', off: ps + 200, len: ps, kind: 'Uint8Array' },
    ],
    (_step, w) => {
      counts.push(firstCounts(w, 4));
      held.push(w.model.held.map((lock) => lock.seq));
    },
  );
  t.same(outcomes, [
    'locked',
    'locked',
    'locked',
    'locked',
    'released',
    'unlocked',
    'released',
    'released',
    'released again',
    'released again',
    'ERR_MEMLOCK_NOT_LOCKED',
  ]);
  t.same(counts, [
    [1, 1, 1, 0],
    [1, 2, 2, 0],
    [1, 3, 3, 1],
    [1, 4, 4, 1],
    [0, 3, 3, 1],
    [0, 2, 2, 1],
    [0, 1, 1, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ]);
  t.same(held[5], [2, 3], 'unlock(view) took the newest lock on those bytes (#4), not the older #2');
  t.end();
});

t.test('regression: a limit lowered below what is locked, then raised', (t) => {
  const ps = pageSize;
  const locked: number[] = [];
  const outcomes = runScenario(
    [
      { op: 'lock', off: ps / 2, len: 3 * ps, kind: 'Uint8Array', onFault: false }, // pages 0-3
      { op: 'limit', delta: -2 }, // 2 pages: below the 4 locked
      { op: 'lock', off: 4 * ps, len: 1, kind: 'Uint8Array', onFault: false }, // a new page: refused
      { op: 'relock', i: 0, kind: 'DataView', onFault: false }, // pages already counted: allowed
      { op: 'lock', off: 3 * ps + 1, len: ps, kind: 'Buffer', onFault: true }, // one new page of two: refused
      { op: 'pool', size: 64, kind: 'Buffer', onFault: false }, // a pool page: refused too
      { op: 'release', i: 0, dispose: false },
      { op: 'release', i: 0, dispose: false }, // nothing locked now, limit still 2
      { op: 'lock', off: 0, len: 2 * ps + 1, kind: 'Uint8Array', onFault: false }, // 3 pages: refused
      { op: 'lock', off: 0, len: 2 * ps, kind: 'Float64Array', onFault: false }, // exactly the limit
      { op: 'lock', off: 2 * ps, len: 1, kind: 'Uint8Array', onFault: false }, // one more: refused
      { op: 'unlimit' },
      { op: 'lock', off: 2 * ps, len: 1, kind: 'Uint8Array', onFault: false },
    ],
    (_step, w) => locked.push(stats().lockedPages - w.base.lockedPages),
  );
  t.same(outcomes, [
    'locked',
    'limit 2',
    'ERR_MEMLOCK_LIMIT',
    'locked',
    'ERR_MEMLOCK_LIMIT',
    'ERR_MEMLOCK_LIMIT',
    'released',
    'released',
    'ERR_MEMLOCK_LIMIT',
    'locked',
    'ERR_MEMLOCK_LIMIT',
    'limit default',
    'locked',
  ]);
  t.same(locked, [4, 4, 4, 4, 4, 4, 4, 0, 0, 2, 2, 2, 3], 'stats().lockedPages, less what was locked before');
  t.equal(getLockablePageLimit(), defaultLimit, 'the limit is restored');
  t.end();
});

t.test(
  'regression: on-fault pages covered by a plain lock stay fully locked until 0',
  { skip: needs('onFault') },
  (t) => {
    const ps = pageSize;
    const kernel: string[] = [];
    // The first three ops are what fast-check shrank a broken model to.
    const outcomes = runScenario(
      [
        { op: 'lock', off: 0, len: 4 * ps, kind: 'Uint8Array', onFault: true }, // F F F F
        { op: 'lock', off: ps + 10, len: ps, kind: 'DataView', onFault: false }, // plain over pages 1-2
        { op: 'release', i: 1, dispose: false }, // the plain one: pages 1-2 stay fully locked
        { op: 'lock', off: 3 * ps, len: 2 * ps, kind: 'Int32Array', onFault: false }, // page 3 populated, 4 new
        { op: 'lock', off: 5 * ps, len: 1, kind: 'Uint8Array', onFault: true }, // page 5 new, on fault
        { op: 'release', i: 0, dispose: false }, // pages 0-2 to 0, 3 held by the plain lock
      ],
      (_step, w) => kernel.push(kernelPages(w).slice(0, 6)),
    );
    t.same(outcomes, ['locked', 'locked', 'released', 'locked', 'locked', 'released']);
    t.same(kernel, ['FFFF--', 'FLLF--', 'FLLF--', 'FLLLL-', 'FLLLLF', '---LLF'], 'smaps VmFlags per page (F: lo lf)');
    t.end();
  },
);

t.test(
  'regression: a burst makes one page of a range sticky; it stays locked after every release',
  { skip: needs('onFault') },
  (t) => {
    const ps = pageSize;
    const counts: number[][] = [];
    const kernel: string[] = [];
    const stickyBefore = stats().stickyPages;
    const outcomes = runScenario(
      [
        { op: 'lock', off: 4 * ps + 5, len: 2 * ps, kind: 'Uint8Array', onFault: false }, // pages 4-6
        { op: 'burst', page: 6, pages: 2, onFault: true, keep: true }, // 65534 locks on pages 6-7, one kept
        { op: 'release', i: 0, dispose: false },
        { op: 'release', i: 0, dispose: false }, // the kept burst lock
        { op: 'lock', off: 6 * ps, len: ps, kind: 'BigUint64Array', onFault: false },
        { op: 'unlock', i: 0, kind: 'Uint8Array' },
      ],
      (_step, w) => {
        counts.push(firstCounts(w, 8).slice(4));
        kernel.push(kernelPages(w).slice(4, 8));
      },
    );
    t.same(outcomes, ['locked', 'sticky 1', 'released', 'released', 'locked', 'unlocked']);
    t.same(counts, [
      [1, 1, 1, 0],
      [1, 1, 0xffff, 1],
      [0, 0, 0xffff, 1],
      [0, 0, 0xffff, 0],
      [0, 0, 0xffff, 0],
      [0, 0, 0xffff, 0],
    ]);
    t.same(kernel, ['LLL-', 'LLLF', '--LF', '--L-', '--L-', '--L-'], 'page 6 stays locked for good');
    t.equal(stats().stickyPages - stickyBefore, 1);
    t.end();
  },
);
