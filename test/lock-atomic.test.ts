// lock() is all or nothing in its JavaScript part too: whatever throws after
// the native lock (or before it), no count is left without a handle.
import t from 'tap';
import { lock, lockCounts, setDiagnostics, stats, type PageLock } from '../src/index';
import { UNDER_ASAN } from './helpers/child';
import { alignedPages, kernelLockState } from './helpers/kernel';

t.test('a stack-trace hook that throws leaves nothing locked', (t) => {
  const view = alignedPages(2);
  const before = stats();
  // eslint-disable-next-line @typescript-eslint/unbound-method -- saved to be put back as it was
  const hook = Error.prepareStackTrace;
  setDiagnostics({ captureStacks: true });
  Error.prepareStackTrace = () => {
    throw new Error('hook failed');
  };
  try {
    t.throws(() => lock(view, { label: 'hooked' }), { message: 'hook failed' });
  } finally {
    Error.prepareStackTrace = hook;
    setDiagnostics({ captureStacks: false });
  }
  t.same(stats(), before, 'stats unchanged');
  t.same([...lockCounts(view)], [0, 0], 'no count');
  t.equal(kernelLockState(view).lockedPages, 0, 'the kernel has nothing locked');
  t.end();
});

// Recurses until the stack runs out, taking a lock at every level. Each
// round starts a few words deeper (extra arguments widen the first frame),
// so over the rounds the overflow lands at every point of lock() in turn,
// after the native lock too.
function lockUntilOverflow(view: Uint8Array, handles: PageLock[]): void {
  try {
    handles.push(lock(view));
  } catch (error) {
    if (error instanceof RangeError) return;
    throw error;
  }
  try {
    lockUntilOverflow(view, handles);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
  }
}

t.test('running out of stack in lock() leaves no count without a handle', (t) => {
  const view = alignedPages(1);
  const before = stats().heldLocks;
  let taken = 0;
  // Stacks captured too: more work around the native call to run out in.
  setDiagnostics({ captureStacks: true });
  t.teardown(() => setDiagnostics({ captureStacks: false }));
  // 200 offsets sweep the overflow across lock(); under ASan (npm run
  // test:asan, which checks memory safety, not this property again) each
  // round is many times slower, so it sweeps fewer.
  const rounds = UNDER_ASAN ? 24 : 200;
  for (let round = 0; round < rounds; round += 1) {
    const handles: PageLock[] = [];
    Reflect.apply(lockUntilOverflow, undefined, [view, handles, ...new Array<number>(round).fill(round)]);
    taken += handles.length;
    for (const handle of handles) handle.release();
    if (stats().heldLocks !== before) break;
  }
  t.ok(taken > 0, 'locks were taken on the way down');
  t.equal(stats().heldLocks, before, 'every lock taken has a handle that released it');
  t.same([...lockCounts(view)], [0], 'no count is left');
  t.equal(kernelLockState(view).lockedPages, 0, 'and the kernel agrees');
  t.end();
});
