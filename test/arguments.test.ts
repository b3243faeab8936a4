// test-tier: quick
import t from 'tap';
import {
  allocPinned,
  allocSecret,
  getDiagnostics,
  getLockablePageLimit,
  lock,
  lockAll,
  lockCode,
  unlockAll,
  setDiagnostics,
  PageLock,
  SecretBuffer,
  lockCounts,
  residency,
  setLockablePageLimit,
  stats,
  unlock,
} from '../src/index';
import { registerMetrics } from '../src/metrics/prometheus';

// Each call takes unchecked input on purpose, as JavaScript callers can.
const anyLock = lock as (view: unknown, options?: unknown) => unknown;
const viewTakers: Record<string, (view: unknown) => unknown> = {
  lock: anyLock,
  unlock: unlock as (view: unknown) => unknown,
  lockCounts: lockCounts as (view: unknown) => unknown,
  residency: residency as (view: unknown) => unknown,
};

/** An ArrayBuffer detached by a transfer, and a view made before that. */
function detached(): { buffer: ArrayBuffer; view: Uint8Array } {
  const buffer = new ArrayBuffer(4096);
  const view = new Uint8Array(buffer);
  structuredClone(buffer, { transfer: [buffer] });
  return { buffer, view };
}

t.test('not a view: ERR_INVALID_ARG_TYPE', (t) => {
  const before = stats();
  for (const [name, call] of Object.entries(viewTakers)) {
    for (const bad of [undefined, null, 42, 'bytes', {}, [1, 2, 3], () => 0, Symbol('x'), 1n]) {
      t.throws(() => call(bad), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }, `${name}(${String(bad)})`);
    }
  }
  t.same(stats(), before, 'nothing changed');
  t.end();
});

t.test('empty or detached: ERR_INVALID_ARG_VALUE', (t) => {
  const before = stats();
  const gone = detached();
  const empties = {
    'empty Buffer': Buffer.alloc(0),
    'empty Uint8Array': new Uint8Array(0),
    'empty ArrayBuffer': new ArrayBuffer(0),
    'empty SharedArrayBuffer': new SharedArrayBuffer(0),
    'empty DataView': new DataView(new ArrayBuffer(8), 8),
    'detached ArrayBuffer': gone.buffer,
    'view of a detached ArrayBuffer': gone.view,
  };
  for (const [name, call] of Object.entries(viewTakers)) {
    for (const [what, bad] of Object.entries(empties)) {
      t.throws(() => call(bad), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }, `${name}: ${what}`);
    }
  }
  t.match(
    t.throws(() => lock(gone.buffer)),
    { message: /detached/ },
    'says the buffer is detached',
  );
  t.match(
    t.throws(() => lock(gone.view)),
    { message: /detached/ },
    'says the view is detached',
  );
  t.same(stats(), before, 'nothing changed');
  t.end();
});

t.test('bad lock options: ERR_INVALID_ARG_TYPE, nothing locked', (t) => {
  const before = stats();
  const view = new Uint8Array(4096);
  for (const bad of [null, 5, 'onFault', true, [true]]) {
    t.throws(() => anyLock(view, bad), { code: 'ERR_INVALID_ARG_TYPE' }, `options = ${String(bad)}`);
  }
  for (const bad of [1, 'yes', null, {}]) {
    t.throws(() => anyLock(view, { onFault: bad }), { code: 'ERR_INVALID_ARG_TYPE' }, `onFault = ${String(bad)}`);
  }
  t.same(stats(), before, 'nothing changed');
  t.end();
});

t.test(
  'an array is not an options object: ERR_INVALID_ARG_TYPE from every call that takes one, nothing changed',
  (t) => {
    const before = stats();
    const diagnostics = getDiagnostics();
    // Each with an array whose elements would read as options if it were taken for one.
    const takers: Record<string, (options: unknown) => unknown> = {
      lock: (o) => anyLock(new Uint8Array(4096), o),
      allocPinned: (o) => (allocPinned as (size: number, o: unknown) => unknown)(4096, o),
      allocSecret: (o) => (allocSecret as (size: number, o: unknown) => unknown)(64, o),
      lockCode: lockCode as (o: unknown) => unknown,
      lockAll: lockAll as (o: unknown) => unknown,
      setDiagnostics: setDiagnostics as (o: unknown) => unknown,
      registerMetrics: registerMetrics as (o: unknown) => unknown,
    };
    for (const [name, call] of Object.entries(takers)) {
      const array = Object.assign([], { captureStacks: true, current: true, label: 'x' });
      let result: unknown;
      t.throws(() => (result = call(array)), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }, `${name}([])`);
      // Taken anyway (the bug): undo what it did, so the suite runs on.
      if (name === 'lockAll' && result === undefined && stats().lockAll !== null) unlockAll();
      (result as { release?: () => void; free?: () => void } | undefined)?.release?.();
      (result as { free?: () => void } | undefined)?.free?.();
    }
    t.same(getDiagnostics(), diagnostics, 'diagnostics unchanged');
    t.same(stats(), before, 'nothing locked');
    t.end();
  },
);

t.test('bad limits: type and range errors, limit unchanged', (t) => {
  const limit = getLockablePageLimit();
  const anySet = setLockablePageLimit as (pages: unknown) => void;
  for (const bad of ['10', null, undefined, 10n, {}]) {
    t.throws(() => anySet(bad), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }, `limit ${String(bad)}`);
  }
  for (const bad of [-1, 1.5, NaN, Infinity, -Infinity, 2 ** 53]) {
    t.throws(() => anySet(bad), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }, `limit ${bad}`);
  }
  t.equal(getLockablePageLimit(), limit);
  t.end();
});

t.test("a view's own byteLength or buffer getters are not believed", (t) => {
  class LongerThanItIs extends Uint8Array {
    override get byteLength(): number {
      return 4096;
    }
  }
  const before = stats();
  for (const call of [lock, unlock, lockCounts, residency] as ((v: Uint8Array) => unknown)[]) {
    t.throws(() => call(new LongerThanItIs(0)), { code: 'ERR_INVALID_ARG_VALUE' }, `${call.name}: empty is empty`);
  }
  class ShorterThanItIs extends Uint8Array {
    override get byteLength(): number {
      return 0;
    }
  }
  const handle = lock(new ShorterThanItIs(4096));
  t.ok(handle.pages >= 1, 'a view with bytes is locked whatever its getter says');
  handle.release();
  t.same(stats(), before);
  t.end();
});

t.test('handles are made by memlock only', (t) => {
  const AnyPageLock = PageLock as unknown as new (...args: unknown[]) => unknown;
  const AnySecretBuffer = SecretBuffer as unknown as new (...args: unknown[]) => unknown;
  t.throws(() => new AnyPageLock(), { name: 'TypeError', code: 'ERR_ILLEGAL_CONSTRUCTOR' });
  t.throws(() => new AnyPageLock(1, 0, 1, false, undefined), { code: 'ERR_ILLEGAL_CONSTRUCTOR' });
  t.throws(() => new AnySecretBuffer(Buffer.alloc(8), 'pooled', 'wipe', true), { code: 'ERR_ILLEGAL_CONSTRUCTOR' });
  t.end();
});
