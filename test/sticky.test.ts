// test-tier: quick
import diagnosticsChannel from 'node:diagnostics_channel';
import t from 'tap';
import { lock, lockCounts, pageSize, stats, type PageLock, type StickyMessage } from '../src/index';
import { alignedPages, kernelLockState } from './helpers/kernel';

t.test('a count saturates at 0xFFFF and the page stays locked for good', async (t) => {
  const view = alignedPages(2);
  const stickyPage = view.subarray(0, pageSize);
  const messages: StickyMessage[] = [];
  const onSticky = (message: unknown) => messages.push(message as StickyMessage);
  diagnosticsChannel.subscribe('memlock:sticky', onSticky);
  t.teardown(() => diagnosticsChannel.unsubscribe('memlock:sticky', onSticky));
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));

  const before = stats().stickyPages;
  const locks: PageLock[] = [];
  for (let i = 0; i < 0xfffe; i += 1) locks.push(lock(stickyPage));
  t.same(Array.from(lockCounts(view)), [0xfffe, 0], 'one below the maximum');
  t.equal(messages.length, 0, 'not sticky yet');
  locks.push(lock(stickyPage));
  t.same(Array.from(lockCounts(view)), [0xffff, 0], 'saturated');
  t.equal(stats().stickyPages - before, 1, 'stats count the sticky page');
  t.equal(messages.length, 1, 'one message on memlock:sticky');
  t.equal(messages[0]?.pages, 1);
  t.equal(messages[0]?.view, stickyPage);

  const beyond = lock(view);
  t.same(Array.from(lockCounts(view)), [0xffff, 1], 'a sticky page ignores further locks');
  t.equal(messages.length, 1, 'turning sticky is reported once');
  beyond.release();
  for (const held of locks) held.release();
  t.same(Array.from(lockCounts(view)), [0xffff, 0], 'releases leave it at 0xFFFF');
  t.equal(kernelLockState(stickyPage).lockedPages, 1, 'and the kernel still has it locked');
  t.equal(kernelLockState(view.subarray(pageSize)).lockedPages, 0, 'the neighbour is unlocked');

  await new Promise((resolve) => setImmediate(resolve));
  const stickyWarnings = warnings.filter((w) => (w as Error & { code?: string }).code === 'MEMLOCK_STICKY');
  t.equal(stickyWarnings.length, 1, 'one process warning');
  t.equal(stickyWarnings[0]?.name, 'MemlockWarning');
});
