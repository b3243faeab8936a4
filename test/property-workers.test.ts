// Property test across threads: the main thread and a worker lock, release
// and unlock random ranges of one SharedArrayBuffer arena; after every step
// the one process-wide table, stats() and the kernel must match a single
// model, unlock(view) must match only the calling thread's locks, and a
// worker that exits must take its locks with it.
//
// The worker runs commands synchronously (a MessagePort read with
// receiveMessageOnPort, woken by Atomics), so each step is checked at a
// moment when neither thread is half-way through a call.
//
// Replay a failure: FC_SEED=<seed> [FC_PATH=<path>] npx tap test/property-workers.test.ts
import assert from 'node:assert/strict';
import path from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import fc from 'fast-check';
import t from 'tap';
import { binding } from '../src/binding';
import { lock, lockCounts, MemlockError, pageSize, stats, unlock, type PageLock } from '../src/index';
import { kernelPageStates } from './helpers/kernel';
import { CountModel, type ModelLock } from './helpers/model';
import { CAN_ON_FAULT } from './helpers/capability';

const ARENA_PAGES = 16;
const ARENA_BYTES = ARENA_PAGES * pageSize;
const MAIN = 0;
const WORKER = 1;

// ---------------------------------------------------------------------------
// The worker: plain JavaScript, evaluated; tsx's CommonJS hook loads src/
// (see test/helpers/ts-worker.ts for why it registers itself).

const WORKER_SOURCE = `
require('tsx/cjs');
const { workerData } = require('node:worker_threads');
const { receiveMessageOnPort } = require('node:worker_threads');
const memlock = require(${JSON.stringify(path.join(__dirname, '..', 'src', 'index.ts'))});
const { port, signal } = workerData;
let arena;
let handles = [];
let seen = 0;
function run(command) {
  switch (command.op) {
    case 'arena':
      arena = command.arena;
      handles = [];
      return {};
    case 'lock':
      try {
        const view = new Uint8Array(arena.buffer, arena.base + command.off, command.len);
        handles.push(memlock.lock(view, { onFault: command.onFault }));
        return { wid: handles.length - 1, pages: handles[handles.length - 1].pages };
      } catch (err) {
        return { code: err.code ?? String(err) };
      }
    case 'release':
      handles[command.wid].release();
      return {};
    case 'unlock':
      try {
        memlock.unlock(new Uint8Array(arena.buffer, arena.base + command.off, command.len));
        return {};
      } catch (err) {
        return { code: err.code ?? String(err) };
      }
    case 'exit':
      process.exit(0); // with its locks held: they go with the thread
  }
  return { code: 'unknown command ' + command.op };
}
for (;;) {
  Atomics.wait(signal, 0, seen);
  seen = Atomics.load(signal, 0);
  let message;
  while ((message = receiveMessageOnPort(port)) === undefined) Atomics.wait(signal, 2, 0, 1);
  const reply = run(message.message);
  reply.released = handles.map((h) => h.released);
  port.postMessage(reply);
  Atomics.add(signal, 1, 1);
  Atomics.notify(signal, 1);
}
`;

interface Reply {
  released: boolean[];
  code?: string;
  wid?: number;
  pages?: number;
}

/** A worker that runs one command at a time, synchronously for the caller. */
class SyncWorker {
  readonly #port: MessagePort;
  readonly #signal = new Int32Array(new SharedArrayBuffer(12));
  readonly worker: Worker;
  readonly exited: Promise<number>;

  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { port: port2, signal: this.#signal },
      transferList: [port2],
    });
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.on('error', () => {}); // surfaces as a timeout in call()
  }

  call(command: Record<string, unknown>): Reply {
    const replies = Atomics.load(this.#signal, 1);
    this.#port.postMessage(command);
    Atomics.add(this.#signal, 0, 1);
    Atomics.notify(this.#signal, 0);
    // The first call also waits for the worker to load tsx and memlock.
    if (Atomics.wait(this.#signal, 1, replies, 30_000) === 'timed-out') {
      throw new Error(`harness: the worker did not answer ${JSON.stringify(command)}`);
    }
    const reply = receiveMessageOnPort(this.#port);
    if (reply === undefined) throw new Error('harness: no reply on the port');
    return reply.message as Reply;
  }

  /** Tells the worker to exit with its locks held; resolves once it is gone. */
  async exit(): Promise<void> {
    this.#port.postMessage({ op: 'exit' });
    Atomics.add(this.#signal, 0, 1);
    Atomics.notify(this.#signal, 0);
    await this.exited;
    this.#port.close();
  }
}

// ---------------------------------------------------------------------------
// Operations

type Op =
  /** Thread `t` locks arena bytes [off, off + len). */
  | { t: number; op: 'lock'; off: number; len: number; onFault: boolean }
  /** Thread `t` releases its own held lock #i. */
  | { t: number; op: 'release'; i: number }
  /** Thread `t` calls unlock() on the bytes of held lock #i of either thread. */
  | { t: number; op: 'unlock'; i: number };

interface Run {
  ops: Op[];
  /** End with the worker exiting while it holds locks (else everything is released first). */
  exitWithLocks: boolean;
}

interface World {
  arena: Uint8Array;
  arenaFirst: number;
  base: ReturnType<typeof stats>;
  model: CountModel;
  mainHandles: Map<ModelLock, PageLock>;
  mainReleased: PageLock[];
  workerIds: Map<ModelLock, number>;
  /** The worker's released flags, by its handle number, from its last reply. */
  workerReleased: boolean[];
  workerSettled: Set<number>;
}

let worker: SyncWorker | undefined;
function theWorker(): SyncWorker {
  worker ??= new SyncWorker();
  return worker;
}

/** A page-aligned, touched arena inside a SharedArrayBuffer. */
function sharedArena(): Uint8Array {
  const sab = new SharedArrayBuffer((ARENA_PAGES + 1) * pageSize);
  const address = binding.addressOf(new Uint8Array(sab));
  const skip = (pageSize - (address % pageSize)) % pageSize;
  const arena = new Uint8Array(sab, skip, ARENA_BYTES);
  arena.fill(1);
  return arena;
}

function kernelPages(w: World): string {
  return kernelPageStates(w.arenaFirst, ARENA_PAGES);
}

function modelPages(w: World): string {
  return w.model.pageStates(w.arenaFirst, ARENA_PAGES);
}

function check(w: World): void {
  const { model, base } = w;
  assert.deepEqual(Array.from(lockCounts(w.arena)), model.counts(w.arenaFirst, ARENA_PAGES), 'lockCounts(arena)');
  const now = stats();
  assert.deepEqual(
    {
      lockedPages: now.lockedPages - base.lockedPages,
      stickyPages: now.stickyPages - base.stickyPages,
      heldLocks: now.heldLocks - base.heldLocks,
    },
    { lockedPages: model.lockedPages, stickyPages: 0, heldLocks: model.held.length },
    'stats() deltas (every thread)',
  );
  assert.equal(kernelPages(w), modelPages(w), 'kernel VmFlags per arena page (L lo, F lo+lf, - none)');
  for (const held of model.held) {
    if (held.owner === MAIN) assert.equal(w.mainHandles.get(held)!.released, false, `main lock #${held.seq}: released`);
    else assert.equal(w.workerReleased[w.workerIds.get(held)!], false, `worker lock #${held.seq}: released`);
  }
  for (const handle of w.mainReleased) assert.equal(handle.released, true, 'a released main lock: released');
  for (const wid of w.workerSettled)
    assert.equal(w.workerReleased[wid], true, `released worker lock w${wid}: released`);
}

function heldBy(w: World, owner: number, i: number): ModelLock | undefined {
  const theirs = w.model.held.filter((held) => held.owner === owner);
  return theirs.length === 0 ? undefined : theirs[i % theirs.length];
}

function apply(w: World, op: Op): string {
  const thread = op.t === MAIN ? MAIN : WORKER;
  switch (op.op) {
    case 'lock': {
      const off = Math.min(op.off, ARENA_BYTES - 1);
      const len = Math.min(op.len, ARENA_BYTES - off);
      const address = binding.addressOf(w.arena) + off;
      // Where the backend has no onFault, the same sequences run with plain locks.
      const onFault = op.onFault && CAN_ON_FAULT;
      const expected = w.model.lock(address, len, onFault, thread);
      let code = 'locked';
      if (thread === MAIN) {
        let handle: PageLock | undefined;
        try {
          handle = lock(w.arena.subarray(off, off + len), { onFault });
        } catch (err) {
          code = err instanceof MemlockError ? err.code : String(err);
        }
        if (handle !== undefined && expected.ok) w.mainHandles.set(expected.lock, handle);
        else handle?.release(); // an unexpected success: fails just below
      } else {
        const reply = theWorker().call({ op: 'lock', off, len, onFault });
        w.workerReleased = reply.released;
        if (reply.code !== undefined) code = reply.code;
        else if (expected.ok) w.workerIds.set(expected.lock, reply.wid!);
      }
      assert.equal(code, expected.ok ? 'locked' : expected.code, 'lock(): outcome');
      return code;
    }
    case 'release': {
      const held = heldBy(w, thread, op.i);
      if (held === undefined) return 'none held';
      if (thread === MAIN) {
        const handle = w.mainHandles.get(held)!;
        handle.release();
        w.mainReleased.push(handle);
      } else {
        const wid = w.workerIds.get(held)!;
        w.workerReleased = theWorker().call({ op: 'release', wid }).released;
        w.workerSettled.add(wid);
      }
      w.model.release(held);
      return 'released';
    }
    case 'unlock': {
      // Bytes of a lock of either thread: the other thread's must not match.
      const target = w.model.held.length === 0 ? undefined : w.model.held[op.i % w.model.held.length];
      if (target === undefined) return 'none held';
      const off = target.address - binding.addressOf(w.arena);
      const expected = w.model.unlock(target.address, target.length, thread);
      let code = 'unlocked';
      if (thread === MAIN) {
        try {
          unlock(w.arena.subarray(off, off + target.length));
        } catch (err) {
          code = err instanceof MemlockError ? err.code : String(err);
        }
        if (expected !== undefined) w.mainReleased.push(w.mainHandles.get(expected)!);
      } else {
        const reply = theWorker().call({ op: 'unlock', off, len: target.length });
        w.workerReleased = reply.released;
        if (reply.code !== undefined) code = reply.code;
        if (expected !== undefined) w.workerSettled.add(w.workerIds.get(expected)!);
      }
      assert.equal(
        code,
        expected === undefined ? 'ERR_MEMLOCK_NOT_LOCKED' : 'unlocked',
        `unlock() from thread ${thread}: outcome`,
      );
      return target.owner === thread ? code : `${code} (bytes of the other thread's lock)`;
    }
  }
}

async function runScenario(run: Run): Promise<string[]> {
  const arena = sharedArena();
  const base = stats();
  const w: World = {
    arena,
    arenaFirst: binding.addressOf(arena) / pageSize,
    base,
    model: new CountModel(pageSize, base.lockedPages, base.limitPages),
    mainHandles: new Map(),
    mainReleased: [],
    workerIds: new Map(),
    workerReleased: [],
    workerSettled: new Set(),
  };
  theWorker().call({ op: 'arena', arena: { buffer: arena.buffer, base: arena.byteOffset } });
  const outcomes: string[] = [];
  let step = 0;
  try {
    for (step = 0; step < run.ops.length; step += 1) {
      const outcome = apply(w, run.ops[step]!);
      outcomes.push(outcome);
      if (outcome !== 'none held') check(w);
    }
    for (const held of w.model.held.filter((h) => h.owner === MAIN).reverse()) {
      w.mainHandles.get(held)!.release();
      w.model.release(held);
    }
    if (run.exitWithLocks) {
      await theWorker().exit();
      worker = undefined;
      w.model.releaseOwner(WORKER);
      w.workerReleased = [];
      w.workerSettled.clear();
      outcomes.push('worker exited');
    } else {
      for (const held of w.model.held.filter((h) => h.owner === WORKER).reverse()) {
        const wid = w.workerIds.get(held)!;
        w.workerReleased = theWorker().call({ op: 'release', wid }).released;
        w.workerSettled.add(wid);
        w.model.release(held);
      }
    }
    check(w);
    assert.equal(w.model.lockedPages, 0, 'nothing left locked');
    return outcomes;
  } catch (err) {
    if (err instanceof Error) {
      const where = step < run.ops.length ? `after op #${step} ${JSON.stringify(run.ops[step])}` : 'at the end';
      err.message = `${where} (outcomes so far: ${JSON.stringify(outcomes)}): ${err.message}`;
    }
    // A failed run leaves the worker in an unknown state: start a new one.
    for (const handle of w.mainHandles.values()) handle.release();
    if (worker !== undefined) await worker.exit();
    worker = undefined;
    throw err;
  }
}

// ---------------------------------------------------------------------------

const threadArb = fc.constantFrom(MAIN, WORKER);
const indexArb = fc.nat({ max: 31 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: threadArb,
      op: fc.constant('lock' as const),
      off: fc.integer({ min: 0, max: ARENA_BYTES - 1 }),
      len: fc.integer({ min: 1, max: 3 * pageSize }),
      onFault: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: threadArb, op: fc.constant('release' as const), i: indexArb }) },
  { weight: 2, arbitrary: fc.record({ t: threadArb, op: fc.constant('unlock' as const), i: indexArb }) },
);
const runArb: fc.Arbitrary<Run> = fc.record({
  ops: fc.array(opArb, { minLength: 1, maxLength: 16, size: 'max' }),
  // Each exit costs a new worker (~0.4 s to load tsx): a few runs only.
  exitWithLocks: fc.nat({ max: 3 }).map((n) => n === 0),
});

function envInt(name: string): number | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : Number.parseInt(value, 10);
}

t.test('property: main thread and a worker share one table; unlock matches only the own thread', async (t) => {
  const seed = envInt('FC_SEED') ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  const replayPath = process.env['FC_PATH'];
  const numRuns = envInt('FC_RUNS') ?? 20;
  t.comment(`fast-check seed ${seed}: replay with FC_SEED=${seed} npx tap test/property-workers.test.ts`);
  const timeLimit = (envInt('FC_TIME_LIMIT') ?? 150) * 1000;
  const started = Date.now();
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(runArb, async (run) => {
      runs += 1;
      await runScenario(run);
    }),
    {
      seed,
      numRuns,
      ...(replayPath !== undefined && replayPath !== '' ? { path: replayPath } : {}),
      // Bounds shrinking well within tap's timeout (see property.test.ts).
      plugins: [fc.interruptAfterTimeLimit(timeLimit)],
    },
  );
  t.comment(`${runs} of ${numRuns} runs in ${Date.now() - started} ms`);
  t.end();
});

t.test(
  "regression: unlock(view) from the other thread does not release; exit releases the worker's locks",
  async (t) => {
    const ps = pageSize;
    const outcomes = await runScenario({
      ops: [
        { t: MAIN, op: 'lock', off: 100, len: 2 * ps, onFault: false }, // pages 0-2
        { t: WORKER, op: 'lock', off: 100, len: 2 * ps, onFault: true }, // the same bytes, from the worker
        { t: WORKER, op: 'lock', off: 3 * ps, len: 1, onFault: true }, // page 3, the worker's only
        { t: MAIN, op: 'unlock', i: 2 }, // page 3's bytes: the main thread holds none there
        { t: WORKER, op: 'unlock', i: 0 }, // the shared bytes: releases the worker's lock, not main's
        { t: MAIN, op: 'lock', off: 3 * ps + 7, len: ps, onFault: false }, // pages 3-4
      ],
      exitWithLocks: true,
    });
    t.same(outcomes, [
      'locked',
      'locked',
      'locked',
      "ERR_MEMLOCK_NOT_LOCKED (bytes of the other thread's lock)", // main holds nothing on page 3's bytes
      "unlocked (bytes of the other thread's lock)", // the worker released its own lock on main's bytes
      'locked',
      'worker exited',
    ]);
    t.end();
  },
);

t.teardown(async () => {
  if (worker !== undefined) await worker.exit();
});
