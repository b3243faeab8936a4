// Where V8's sandbox refuses external buffers (Electron 21+:
// napi_no_external_buffers_allowed), secrets and pinned buffers fall back to
// whole pages of Buffers V8 allocates, locked and advised in place. The
// testing build forces that status (MEMLOCK_TEST_V8_SANDBOX=1) in a child
// process, which checks each against the kernel (test/fixtures/v8-sandbox.ts).
import { NO_TESTING_BUILD } from './helpers/testing-build';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { capabilities, pageSize } from '../src/index';
import { runFixture } from './helpers/child';

interface Checked {
  aligned: boolean;
  bytes: number;
  counts: number[];
  lockedPages: number;
  vmLckHeld: number;
  vmLckFreed: number;
  lockedPagesFreed: number;
  mapping: { own: boolean; lockedBytes: number; flags: string[] } | undefined;
  freed: { length: number; readable: boolean; longestFillRun: number };
}

function checkLockedAndFreed(t: Test, name: string, r: Checked, lckBefore: number, advised: boolean): void {
  t.ok(r.aligned, `${name}: its bytes start on a page`);
  t.same(
    r.counts,
    Array.from({ length: r.bytes / pageSize }, () => 1),
    `${name}: every page counted once (lockCounts)`,
  );
  t.equal(r.lockedPages, r.bytes / pageSize, `${name}: and only those (stats().lockedPages)`);
  t.ok(r.mapping?.own, `${name}: its pages are a mapping of their own in smaps (mlock split it off V8's heap)`);
  t.ok(r.mapping?.flags.includes('lo'), `${name}: VmFlags lo`);
  t.equal(r.mapping?.lockedBytes, r.bytes, `${name}: smaps Locked: is its pages`);
  t.equal(r.vmLckHeld, lckBefore + r.bytes, `${name}: VmLck grew by its pages`);
  for (const [flag, what] of [
    ['dd', 'MADV_DONTDUMP'],
    ['wf', 'MADV_WIPEONFORK'],
  ] as const) {
    t.equal(r.mapping?.flags.includes(flag), advised, `${name}: ${what} ${advised ? 'in place' : 'not applied'}`);
  }
  t.equal(r.freed.length, 0, `${name}: free() detaches the Buffer`);
  t.equal(r.lockedPagesFreed, 0, `${name}: free() releases the lock`);
  t.equal(r.vmLckFreed, lckBefore, `${name}: VmLck back`);
  t.ok(r.freed.longestFillRun < 16, `${name}: its bytes are zeroed (longest run left: ${r.freed.longestFillRun})`);
}

t.test(
  'under a forced napi_no_external_buffers_allowed, secrets and pinned buffers live in V8 memory, locked',
  { skip: NO_TESTING_BUILD },
  (t) => {
    const child = runFixture('v8-sandbox.ts', { env: { MEMLOCK_TEST_V8_SANDBOX: '1' }, node: ['--expose-gc'] });
    t.equal(child.status, 0, child.stderr);
    const r = JSON.parse(child.stdout);
    t.equal(r.loaded.v8Sandbox, 1, 'detected at load (the scratch buffer was refused)');
    const lost = ['secretmem', 'guard-pages', 'drop-on-fork', 'huge-pages'];
    t.match(
      r.loaded.capabilities,
      {
        secrets: { backend: 'v8-heap', guardPages: false, onFork: 'wipe', noCoreDump: true },
        hugePages: false,
        v8Sandbox: { active: true, lost },
      },
      'capabilities() reports it',
    );
    const expected = {
      pooledAuto: ['secretmem'],
      pooledMlock: [],
      guardedAuto: ['secretmem', 'guard-pages'],
      guardedMlockDrop: ['guard-pages', 'drop-on-fork'],
    };
    for (const [name, losses] of Object.entries(expected)) {
      const secret = r.secrets[name];
      t.match(
        secret,
        { backend: 'v8-heap', backendFallback: null, locked: true, onFork: 'wipe', noCoreDump: true },
        `${name}: backend v8-heap, locked, wiped in a child`,
      );
      t.same(secret.sandboxLosses, losses, `${name}: sandboxLosses`);
      checkLockedAndFreed(t, name, secret, r.lckBefore, true);
    }
    const { before, held, after } = r.counted;
    t.equal(held.secretStats.v8HeapLive, before.secretStats.v8HeapLive + 3, 'secretStats().v8HeapLive counts them');
    t.equal(held.secretStats.live, before.secretStats.live + 3, 'and live, which counts every backend');
    t.ok(
      held.secretStats.v8HeapBytes >= before.secretStats.v8HeapBytes + 5 * pageSize,
      `v8HeapBytes: their whole pages (${held.secretStats.v8HeapBytes - before.secretStats.v8HeapBytes} bytes)`,
    );
    t.equal(held.secretStats.mappedBytes, before.secretStats.mappedBytes, 'memlock mapped nothing for them');
    t.same(
      held.bySecretBackend,
      { ...before.bySecretBackend, v8Heap: before.bySecretBackend.v8Heap + 3 },
      "stats().secrets: under 'v8Heap'",
    );
    t.same(after, before, 'freed: every count back');
    t.same(r.explicit, { isMemlockError: true, code: 'ERR_MEMLOCK_SECRETMEM_UNAVAILABLE' }, "explicit 'secretmem'");
    t.match(r.pinned.plain, { inV8Heap: true, hugePages: 'none', mappedBytes: 3 * pageSize, onFork: 'keep' });
    t.same(r.pinned.plain.sandboxLosses, []);
    t.same(r.pinned.hugeTryDrop.sandboxLosses, ['huge-pages', 'drop-on-fork']);
    t.match(r.pinned.hugeTryDrop, { inV8Heap: true, hugePages: 'none', onFork: 'keep' });
    for (const name of ['plain', 'hugeTryDrop'])
      checkLockedAndFreed(t, `pinned ${name}`, r.pinned[name], r.lckBefore, false);
    t.same(r.messages, [{ status: 'napi_no_external_buffers_allowed', backend: 'v8-heap', lost }], 'published once');
    t.match(r.collected, { before: 0, held: 1, after: 0 }, 'a collected secret releases its lock');
    t.equal(r.pagesAfter, r.pagesBefore, 'no lock left');
    t.equal(r.lckAfter, r.lckBefore, 'VmLck as before');
    t.end();
  },
);

t.test('without the refusal nothing changes', { skip: NO_TESTING_BUILD }, (t) => {
  t.match(capabilities().v8Sandbox, { active: false, lost: [] });
  t.not(capabilities().secrets.backend, 'v8-heap');
  t.end();
});

const SHIPPED = path.join(__dirname, '..', 'build', 'Release', 'memlock.node');

t.test(
  'the shipped addon has no hook that forces the refusal',
  { skip: existsSync(SHIPPED) ? false : `no shipped build at ${SHIPPED}` },
  (t) => {
    t.equal(readFileSync(SHIPPED).indexOf('MEMLOCK_TEST_V8_SANDBOX'), -1);
    t.end();
  },
);
