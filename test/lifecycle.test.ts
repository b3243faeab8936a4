// The edges of a thread's and a process's life, and other code moving
// memlock's memory (contract rules 10 and 12): each scenario runs in a child
// (test/fixtures/lifecycle.cjs) on the Node line running the suite, and must
// neither abort nor leave a count the kernel does not back.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t, { type Test } from 'tap';
import { UNDER_ASAN } from './helpers/child';
import { NO_TESTING_BUILD, TESTING_BUILD } from './helpers/testing-build';

const fixture = path.join(__dirname, 'fixtures', 'lifecycle.cjs');
const HAS_TRANSFER = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';

interface Account {
  heldLocks: number;
  lockedPages: number;
  stickyPages: number;
  missingBytes: number;
  ok: boolean;
  secrets: number;
  pinned: number;
}
const EMPTY: Account = {
  heldLocks: 0,
  lockedPages: 0,
  stickyPages: 0,
  missingBytes: 0,
  ok: true,
  secrets: 0,
  pinned: 0,
};

function scenario<T>(t: Test, name: string, options: { node?: string[]; testingBuild?: boolean } = {}): T {
  const { NODE_OPTIONS: _runnerHooks, ...env } = process.env;
  if (options.testingBuild) env['MEMLOCK_NATIVE_BINDING'] = process.env['MEMLOCK_NATIVE_BINDING'] ?? TESTING_BUILD;
  // A guard against a hang, not a speed bound.
  const child = spawnSync(process.execPath, ['--expose-gc', ...(options.node ?? []), fixture, name], {
    encoding: 'utf8',
    env,
    timeout: 300_000,
    killSignal: 'SIGKILL',
  });
  t.equal(child.signal, null, `${name}: no signal (${child.stderr.slice(-2000)})`);
  t.equal(child.status, 0, `${name}: exits cleanly`);
  t.notMatch(child.stderr, /terminate called|FATAL ERROR|Check failed/, `${name}: nothing aborted`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1) || '{}') as T;
}

t.test('a worker terminated, or out of heap, while it holds secrets, pinned buffers and locks', (t) => {
  const r = scenario<{ afterTerminate: { exitCode: number }; afterOom: { errorCode?: string }; account: Account }>(
    t,
    'worker-ends-holding',
  );
  t.equal(r.afterTerminate.exitCode, 1, 'terminate() ended the worker, and only the worker');
  t.equal(
    r.afterOom.errorCode,
    'ERR_WORKER_OUT_OF_MEMORY',
    'out of heap ends the worker with its own error, not the process',
  );
  t.same(r.account, EMPTY, "what the workers held left the table with them, and the kernel's account agrees");
  t.end();
});

t.test("memlock memory made in 'exit' listeners, after every other and after all are removed", (t) => {
  const r = scenario<{ ok: boolean }>(t, 'exit-listener-allocates');
  t.ok(r.ok, 'the process and a worker both ended normally');
  t.end();
});

t.test('another addon detaches memlock-owned memory, or memory memlock has locked', { skip: NO_TESTING_BUILD }, (t) => {
  type Outcome = { status: number; detached: boolean; freeThrew: string | null; freed: boolean };
  const r = scenario<
    Record<'pooled' | 'guarded' | 'pinned', Outcome> & {
      sodium: { detached: boolean; released: boolean };
      account: Account;
    }
  >(t, 'foreign-detach', { testingBuild: true });
  for (const kind of ['pooled', 'guarded', 'pinned'] as const) {
    t.equal(r[kind].status, 0, `${kind}: napi_detach_arraybuffer succeeded (no abort, whatever the Node line)`);
    t.ok(r[kind].detached, `${kind}: the Buffer is detached`);
    t.equal(r[kind].freeThrew, null, `${kind}: free() afterwards does not throw`);
    t.ok(r[kind].freed, `${kind}: and reports it freed`);
  }
  t.ok(
    r.sodium.detached && r.sodium.released,
    "sodium_free() of a locked sodium_malloc buffer, then the lock's release",
  );
  t.same(r.account, EMPTY, 'every secret and pinned buffer was freed, no count left, the kernel agrees');
  t.end();
});

t.test("lockCode() and workers: a worker's code leaves the table with the worker", (t) => {
  const r = scenario<{
    withWorkers: number;
    afterExit: Account;
    expectedPages: number;
    counted: number;
    races: string[];
    end: Account;
  }>(t, 'lock-code-workers');
  t.ok(r.withWorkers > 0, `lockCode() locked ${r.withWorkers} mappings with three workers running`);
  t.equal(r.afterExit.missingBytes, 0, 'after they exit, verify() finds no counted page the kernel has not locked');
  t.ok(r.afterExit.ok);
  t.equal(r.counted, r.expectedPages, 'the table counts exactly the code still mapped');
  t.same(r.races, Array(20).fill('ok'), 'lockCode() racing a worker exit never fails');
  t.same(r.end, EMPTY);
  t.end();
});

t.test("lockCode() with --use-largepages covers node's text on huge pages", (t) => {
  const r = scenario<{ anonymousText: boolean; remapped: number; ok: boolean }>(t, 'lock-code-large-pages', {
    node: ['--use-largepages=silent'],
  });
  if (!r.anonymousText) {
    t.comment('node kept its text file-backed here (no huge pages for it): nothing more to check');
  } else {
    t.equal(r.remapped, 1, "node's remapped text is one of the mappings locked");
  }
  t.ok(r.ok, 'verify() agrees with the kernel');
  t.end();
});

t.test('a SharedArrayBuffer made sticky in a worker, then freed by every thread', (t) => {
  const r = scenario<{ stickyInWorker: number; whileShared: Account; afterFree: Account }>(t, 'sticky-shared');
  t.ok(r.stickyInWorker >= 1025, `the worker made ${r.stickyInWorker} pages sticky`);
  t.equal(r.whileShared.stickyPages, r.stickyInWorker, 'they stay sticky while the main thread still has the memory');
  t.ok(r.whileShared.ok, 'and locked in the kernel');
  t.ok(r.afterFree.ok, "memlock's account agrees with the kernel's once every thread let the memory go");
  if (UNDER_ASAN) {
    // ASan's allocator keeps freed memory mapped (its quarantine), so the
    // kernel still has the pages locked, and memlock rightly counts them.
    t.equal(r.afterFree.missingBytes, 0, 'under ASan: the memory stays mapped and locked, and counted');
  } else {
    t.same(r.afterFree, EMPTY, 'once the memory is freed (unmapped), its counts are gone too');
  }
  t.end();
});

t.test(
  'ArrayBuffer.prototype.transfer captured before memlock loaded',
  { skip: HAS_TRANSFER ? false : 'Node 20 has no ArrayBuffer.prototype.transfer' },
  (t) => {
    type Moved = { freeThrew: string | null; freed: boolean; movedBytesZero: boolean };
    const r = scenario<{
      pooled: Moved;
      guarded: Moved;
      lockedMove: { counted: boolean; ok: boolean };
      account: Account;
    }>(t, 'captured-transfer');
    for (const placement of ['pooled', 'guarded'] as const) {
      t.equal(r[placement].freeThrew, null, `${placement}: free() of the moved secret works`);
      t.ok(r[placement].freed, `${placement}: and says it is freed`);
      t.ok(
        r[placement].movedBytesZero,
        `${placement}: the buffer it moved into reads zeros: the secret is unreachable`,
      );
    }
    t.ok(r.lockedMove.counted && r.lockedMove.ok, "a locked buffer's moved memory is still counted and locked");
    t.same(r.account, EMPTY, 'moved secrets are freed once their new buffers are collected');
    t.end();
  },
);
