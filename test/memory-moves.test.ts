// Memory under a count is never detached, transferred, resized or freed
// behind memlock's back; where node moves it anyway, its counts go with it.
// Each scenario runs in a child (test/fixtures/memory-moves.ts); what each
// Node line can guarantee differs (src/locks/guard.ts), and is asserted per line.
import t, { type Test } from 'tap';
import { guardMode } from '../src/locks/guard';
import { lock, lockCounts, pageSize, stats } from '../src/index';
import { runFixture } from './helpers/child';
import { kernelLockState, tableAgreesWithKernel } from './helpers/kernel';

const MAJOR = Number(process.versions.node.split('.')[0]);
// 'wrap' (Node 24+): memlock's wrappers refuse; 'mark' (20, 22): node's own untransferable mark.
const WRAP = guardMode === 'wrap';
const HAS_TRANSFER = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';

interface Attempt {
  threw: boolean;
  name?: string;
  code?: string;
}

function scenario<T>(t: Test, name: string): T {
  const child = runFixture('memory-moves.ts', { node: ['--expose-gc'], args: [name] });
  t.equal(child.status, 0, `${name} exits cleanly (no abort): ${child.stderr.slice(-2000)}`);
  return JSON.parse(child.stdout || '{}') as T;
}

// The paths that hand memory over by transfer lists and structuredClone:
// Node 22+ refuse a marked or keyed buffer; Node 20 copies it instead.
const MESSAGE_PATHS = ['structuredClone transfer', 'MessagePort transfer list', 'Worker transferList'];

t.test('a locked ArrayBuffer stays put, locked and counted, whatever JavaScript tries', (t) => {
  type Outcome = Attempt & {
    stayed: boolean;
    contentIntact: boolean;
    counts: number[];
    kernelLocked: number;
    pages: number;
  };
  const r = scenario<Record<string, Outcome> & { verify: boolean; stats: { heldLocks: number; lockedPages: number } }>(
    t,
    'detach-paths',
  );
  const paths = [...MESSAGE_PATHS, ...(HAS_TRANSFER ? ['transfer()', 'transferToFixedLength()'] : [])];
  for (const path of paths) {
    const o = r[path]!;
    t.ok(o, `${path} was tried`);
    t.ok(o.stayed && o.contentIntact, `${path}: the memory stayed with the locked buffer`);
    t.same(o.counts, [1], `${path}: its pages still count 1`);
    t.equal(o.kernelLocked, o.pages, `${path}: and the kernel has every page locked`);
    if (MAJOR >= 22) t.ok(o.threw, `${path}: refused on Node ${MAJOR}`);
    else t.notOk(o.threw, `${path}: Node 20 copies instead of transferring`);
  }
  if (HAS_TRANSFER) {
    t.equal(
      r['transfer()']!.code,
      'ERR_MEMLOCK_BUFFER_HELD',
      `Node ${MAJOR}: transfer() refused by memlock, with a code`,
    );
  }
  if (WRAP) {
    for (const path of MESSAGE_PATHS)
      t.equal(r[path]!.code, 'ERR_MEMLOCK_BUFFER_HELD', `Node ${MAJOR}: ${path} refused by memlock`);
  }
  const stream = r['byte stream enqueue']!;
  t.notOk(
    stream.stayed,
    `Node ${MAJOR}: node's byte streams detach without asking (survived, not refused: see src/locks/guard.ts)`,
  );
  t.ok(r.verify, "memlock's table and the kernel agree afterwards");
  t.equal(r.stats.heldLocks, 0);
  t.equal(r.stats.lockedPages, 0);
  t.end();
});

t.test('the guard lasts while a lock is held, and on Node 24 lifts with the last release', (t) => {
  const r = scenario<{ whileHeld: Attempt; afterRelease: Attempt; detached: boolean }>(t, 'after-release');
  if (MAJOR >= 22) t.ok(r.whileHeld.threw, 'refused while one of two locks is held');
  if (WRAP) {
    t.notOk(r.afterRelease.threw, 'transferable again once every lock is released');
    t.ok(r.detached, 'and really transferred');
  } else if (MAJOR === 22) {
    t.ok(r.afterRelease.threw, 'Node 22: node cannot unmark a buffer, so it stays untransferable');
  } else {
    t.notOk(r.detached, 'Node 20: copied, never transferred');
  }
  t.end();
});

t.test('secret memory never leaves through a plain ArrayBuffer', (t) => {
  type Outcome = Attempt & { stayed: boolean; free: Attempt; freedAfter: boolean };
  const r = scenario<Record<string, Outcome> & { live: number }>(t, 'secret-paths');
  for (const placement of ['pooled', 'guarded']) {
    const paths = [...MESSAGE_PATHS, ...(HAS_TRANSFER ? ['transfer()', 'transferToFixedLength()'] : [])];
    for (const path of paths) {
      const o = r[`${placement} ${path}`]!;
      t.ok(o.stayed, `${placement}, ${path}: the secret is where it was`);
      t.notOk(o.free.threw, `${placement}, ${path}: free() works`);
      t.ok(o.freedAfter, `${placement}, ${path}: and frees it`);
      if (MAJOR >= 22) t.ok(o.threw, `${placement}, ${path}: refused`);
    }
    const stream = r[`${placement} byte stream enqueue`]!;
    t.notOk(stream.stayed, `${placement}: node's byte stream moved the secret's memory without asking`);
    t.notOk(stream.free.threw, `${placement}: free() still works`);
    t.ok(
      stream.freedAfter,
      `${placement}: and the secret is freed (wiped in place; unmapped once the stream's buffer goes)`,
    );
  }
  t.equal(r.live, 0, 'every secret is wiped and freed in the end, moved ones once their new owner is collected');
  t.end();
});

t.test('a pinned buffer stays where memlock mapped it, locked, and free() still unmaps it', (t) => {
  type Outcome = Attempt & {
    stayed: boolean;
    counts: number[];
    kernelLocked: number;
    free: Attempt;
    freedAfter: boolean;
  };
  const r = scenario<Record<string, Outcome> & { live: number; verify: boolean; stats: { heldLocks: number } }>(
    t,
    'pinned-paths',
  );
  const paths = [...MESSAGE_PATHS, ...(HAS_TRANSFER ? ['transfer()', 'transferToFixedLength()'] : [])];
  for (const path of paths) {
    const o = r[path]!;
    t.ok(o.stayed, `${path}: the memory stayed with the pinned buffer`);
    t.same(o.counts, [1], `${path}: its pages still count 1`);
    t.equal(o.kernelLocked, (64 * 1024) / pageSize, `${path}: and the kernel has every page locked`);
    t.ok(o.freedAfter && !o.free.threw, `${path}: free() unmaps it`);
    if (MAJOR >= 22) t.ok(o.threw, `${path}: refused on Node ${MAJOR}`);
  }
  const stream = r['byte stream enqueue']!;
  t.notOk(stream.stayed, "node's byte stream moved the pinned buffer's memory without asking");
  t.ok(stream.freedAfter && !stream.free.threw, 'free() works (the memory goes when the stream is done with it)');
  t.equal(r.live, 0, 'every pinned buffer is unmapped in the end, a moved one once its new owner is collected');
  t.equal(r.stats.heldLocks, 0, 'and no lock is left');
  t.ok(r.verify);
  t.end();
});

t.test("a worker's pinned buffer cannot leave it, and goes with it", (t) => {
  const r = scenario<{
    sent: string;
    intact: boolean;
    liveInWorker: number;
    receivedBytes: number;
    liveAfter: number;
    stats: { heldLocks: number; lockedPages: number };
    verify: boolean;
  }>(t, 'pinned-worker');
  t.ok(r.intact, 'the worker still has its buffer, whole, after trying to send it');
  t.equal(r.liveInWorker, 1);
  if (MAJOR >= 22) t.not(r.sent, 'sent', 'the transfer was refused');
  else t.equal(r.receivedBytes, 1 << 20, 'Node 20 sent a copy, not the memory');
  t.equal(r.liveAfter, 0, "the worker's exit unmapped it");
  t.equal(r.stats.heldLocks, 0, 'and its lock went with it');
  t.equal(r.stats.lockedPages, 0);
  t.ok(r.verify, "memlock's table and the kernel agree");
  t.end();
});

t.test('a worker cannot hand its secret to the main thread, nor free one under it', (t) => {
  const r = scenario<{ report: Record<string, string>; received: number; aliased: boolean; verify: boolean }>(
    t,
    'secret-worker',
  );
  if (MAJOR >= 22) {
    t.same(
      Object.values(r.report).every((v) => v !== 'sent'),
      true,
      'the worker could not send its secrets',
    );
    t.equal(r.received, 0);
  }
  t.notOk(r.aliased, 'nothing the main thread holds shares memory with a later secret');
  t.ok(r.verify);
  t.end();
});

t.test('sticky memory is kept for the life of the thread', (t) => {
  const r = scenario<{
    stickyPages: number;
    alive: boolean;
    kernelLocked: number;
    totalPages: number;
    secretsLocked: boolean;
    verify: boolean;
  }>(t, 'sticky-gc');
  t.ok(r.stickyPages >= r.totalPages && r.totalPages > 0, 'every page of the view turned sticky');
  t.ok(r.alive, 'the view survived GC with no handle and no reference left');
  t.equal(r.kernelLocked, r.totalPages, 'and the kernel still has it all locked');
  t.ok(r.secretsLocked, 'secrets allocated afterwards are really locked');
  t.ok(r.verify);
  t.end();
});

t.test("a worker's sticky memory goes with its heap, and so do the counts", (t) => {
  const r = scenario<{
    inWorker: number;
    after: { stickyPages: number; lockedPages: number; heldLocks: number };
    secretsLocked: boolean;
    bigLocked: boolean;
    verify: boolean;
  }>(t, 'worker-sticky');
  t.ok(r.inWorker > 0, 'the worker made pages sticky');
  t.equal(r.after.stickyPages, 0, 'none are counted after it exits');
  t.equal(r.after.lockedPages, 0);
  t.ok(r.secretsLocked && r.bigLocked, 'new locks and secrets afterwards are locked in the kernel');
  t.ok(r.verify);
  t.end();
});

t.test('memory node moved and freed anyway: release() drops its counts', (t) => {
  const r = scenario<{
    moved: Attempt;
    detached: boolean;
    release: Attempt;
    released: boolean;
    stats: { lockedPages: number; heldLocks: number };
    verify: boolean;
  }>(t, 'stream-moves-memory');
  t.ok(r.detached, `Node ${MAJOR}: the byte stream took the memory`);
  t.notOk(r.release.threw, 'release() does not fail on memory that is gone');
  t.ok(r.released);
  t.equal(r.stats.lockedPages, 0, 'no count outlives the memory');
  t.equal(r.stats.heldLocks, 0);
  t.ok(r.verify);
  t.end();
});

t.test('a WebAssembly memory that grows while locked stays locked, and node survives', (t) => {
  const r = scenario<{
    grow: Attempt;
    kernelLocked: number;
    pages: number;
    intact: boolean;
    verify: boolean;
    afterRelease: number;
  }>(t, 'wasm-grow');
  t.notOk(r.grow.threw, 'memory.grow() works');
  t.equal(r.kernelLocked, r.pages, 'the locked pages are still locked');
  t.ok(r.intact && r.verify);
  t.equal(r.afterRelease, 0, 'and unlocked by the release');
  t.end();
});

t.test('a resizable ArrayBuffer is refused; a growable SharedArrayBuffer is not', (t) => {
  const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer;
  const resizable = new Resizable(8192, { maxByteLength: 65536 });
  const before = stats();
  for (const view of [resizable, new Uint8Array(resizable), new DataView(resizable)]) {
    t.throws(() => lock(view), { code: 'ERR_INVALID_ARG_VALUE' });
  }
  t.same(stats(), before, 'nothing changed');

  const Growable = SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => SharedArrayBuffer;
  const growable = new Growable(2 * pageSize, { maxByteLength: 16 * pageSize }) as SharedArrayBuffer & {
    grow(n: number): void;
  };
  const handle = lock(growable);
  growable.grow(16 * pageSize);
  t.equal(kernelLockState(new Uint8Array(growable, 0, 2 * pageSize)).lockedPages, 2, 'still locked after growing');
  t.same([...lockCounts(new Uint8Array(growable, 0, 2 * pageSize))], [1, 1]);
  t.ok(tableAgreesWithKernel().ok);
  handle.release();
  t.end();
});
