// The testing build (forks from native code, a byte poke), loaded before src/.
import { NO_TESTING_BUILD } from './helpers/testing-build';
import t from 'tap';
import { allocSecret, pageSize } from '../src/index';
import { cannotDropPrivileges, runFixture, SKIP_MAP_CAP_UNDER_ASAN, unprivileged } from './helpers/child';
import { hooks } from './helpers/hooks';
import { needs } from './helpers/capability';

t.test(
  'a child forked from native code reads zeros where the secret is',
  { skip: NO_TESTING_BUILD || needs('wipeOnFork') },
  (t) => {
    for (const placement of ['pooled', 'guarded'] as const) {
      const secret = allocSecret(64, { placement, backend: 'mlock' });
      secret.buffer.fill(0x42);
      const child = hooks().forkReadBytes(secret.buffer);
      t.equal(child.status, 0, `${placement}: the child read the memory`);
      t.equal(child.bytes.length, 64);
      t.ok(
        child.bytes.every((b) => b === 0),
        `${placement}: and saw only zeros (MADV_WIPEONFORK)`,
      );
      t.ok(
        secret.buffer.every((b) => b === 0x42),
        `${placement}: the parent's copy is intact`,
      );
      secret.free();
    }
    t.end();
  },
);

t.test(
  "onFork: 'drop': the memory is not there in the child",
  { skip: NO_TESTING_BUILD || needs('dropOnFork') },
  (t) => {
    const secret = allocSecret(64, { onFork: 'drop' });
    secret.buffer.fill(0x42);
    const child = hooks().forkReadBytes(secret.buffer);
    // write(2) from an unmapped address fails with EFAULT: the child exits 1
    // without sending anything (the kernel reads the memory, not the child).
    t.not(child.status, 0, `the child could not read it (status ${child.status})`);
    t.equal(child.bytes.length, 0, 'and sent nothing');
    secret.free();
    t.end();
  },
);

t.test('guarded: one byte past the end kills the process with SIGSEGV', { skip: NO_TESTING_BUILD }, (t) => {
  const inside = runFixture('guard-overrun.ts', { args: ['99'] });
  t.equal(inside.status, 0, `the last byte is writable: ${inside.stderr}`);
  t.equal(inside.stdout, 'wrote at 99');
  const over = runFixture('guard-overrun.ts', { args: ['100'] });
  t.equal(over.signal, 'SIGSEGV', 'one byte over faults at once');
  t.equal(over.stdout, '', 'before anything else ran');
  const under = runFixture('guard-overrun.ts', { args: ['-4097'] });
  t.equal(under.signal, 'SIGSEGV', 'the leading guard page faults too');
  t.end();
});

t.test(
  'RLIMIT_MEMLOCK 64 KiB, no CAP_IPC_LOCK: required fails cleanly, best-effort still protects',
  { skip: cannotDropPrivileges() ?? needs('dontDump', 'wipeOnFork') },
  (t) => {
    const child = runFixture('secret-best-effort.ts', { prefix: unprivileged(65536) });
    t.equal(child.status, 0, child.stderr);
    const r = JSON.parse(child.stdout);
    t.ok(r.required?.isMemlockError, 'required: a MemlockError');
    t.ok(['ENOMEM', 'EPERM'].includes(r.required?.code), `with an errno code (${r.required?.code})`);
    t.equal(r.required?.syscall, 'mlock');
    t.match(r.required?.message, /RLIMIT_MEMLOCK is 64 KiB soft/);
    t.same(r.afterRequired, r.before, 'nothing allocated, nothing locked');
    t.same(r.soft, [false, false], 'best-effort: locked is false');
    t.ok(r.smallLocked, 'a one-page slab fits the limit and is locked');
    t.ok(r.flags.includes('dd') && r.flags.includes('wf'), 'unlocked memory is still undumpable and wiped on fork');
    t.notOk(r.flags.includes('lo'), 'and really not locked');
    t.ok(r.unlockedBytes >= 256 * 1024, 'secretStats counts the unlocked bytes');
    const unlockedWarnings = r.warnings.filter((w: { code: string }) => w.code === 'MEMLOCK_SECRET_UNLOCKED');
    t.equal(unlockedWarnings.length, 1, 'one warning for two unlocked secrets');
    t.match(unlockedWarnings[0].message, /RLIMIT_MEMLOCK/, 'saying why');
    t.end();
  },
);

t.test('secrets dropped without free are wiped and released by finalizers', { skip: NO_TESTING_BUILD }, (t) => {
  const child = runFixture('secret-gc.ts', { node: ['--expose-gc'] });
  t.equal(child.status, 0, child.stderr);
  const r = JSON.parse(child.stdout);
  t.equal(r.during.live, 2005, 'allocated');
  t.equal(r.after.live, 0, 'all released after GC');
  t.same(r.after, r.before.secrets, 'slabs and mappings gone');
  t.equal(r.locked, r.before.locked, 'nothing left locked');
  t.ok(r.checkedUnmaps >= 6, 'the unmaps were checked');
  t.equal(r.dirtyUnmaps, 0, 'and found zeroed');
  t.end();
});

t.test(
  'guarded secrets: refused with a margin below vm.max_map_count, the process works on, then a full recovery',
  { skip: SKIP_MAP_CAP_UNDER_ASAN || needs('kernelAccount') },
  (t) => {
    const child = runFixture('secret-map-cap.ts', { node: ['--expose-gc'] });
    t.equal(child.status, 0, `signal ${child.signal}: ${child.stderr}`);
    const r = JSON.parse(child.stdout);
    t.ok(r.count > 20_000, `${r.count} guarded secrets before the refusal`);
    t.ok(r.failure?.isMemlockError, 'a MemlockError');
    t.equal(r.failure?.code, 'ERR_MEMLOCK_MAPPINGS');
    t.ok(r.cap - r.peak >= 1024, `refused with ${r.cap - r.peak} of ${r.cap} mappings left`);
    t.ok(r.grewTo > r.peak, `V8 then grew its heap into the margin (${r.peak} -> ${r.grewTo} mappings) and went on`);
    t.ok(r.whileHeld.ok, 'with every secret held, verify(): the kernel has every counted page locked');
    t.equal(r.whileHeld.countedPages, r.count, 'one locked page a secret');
    t.equal(r.whileHeld.vmLck, r.count * pageSize, "VmLck is exactly the secrets' pages");
    t.same(r.after.secrets, r.before.secrets, 'every secret freed, nothing left mapped by the pool');
    t.equal(r.after.secretMappings, r.before.secretMappings, 'secret mappings back where they were');
    // V8 keeps some of the heap it grew into (by 256 MiB, and more on Node
    // 24), so the process's count is not back to where it was; but at least
    // one mapping a freed secret is gone.
    t.ok(
      r.peak - r.after.mappings >= r.count,
      `process mappings ${r.before.mappings} -> ${r.peak} -> ${r.after.mappings}`,
    );
    t.end();
  },
);
