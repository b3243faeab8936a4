// allocSecret's backends against the kernel's own account: memfd_secret
// memory ('secretmem') reads EIO through /proc/self/mem where mlocked memory
// reads back; both count in VmLck; 'auto' falls back, saying why, under a
// seccomp filter and a small RLIMIT_MEMLOCK; protect() faults reads; a
// forked child has no secretmem mapping. Process-wide things run in children.
import { NO_TESTING_BUILD } from './helpers/testing-build';
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { binding } from '../src/binding';
import { allocSecret, capabilities, lockCounts, pageSize, secretStats, stats, type SecretBuffer } from '../src/index';
import { cannotDropPrivileges, runFixture, unprivileged } from './helpers/child';
import { readMappings } from './helpers/kernel';
import { hooks } from './helpers/hooks';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
const NO_SECRETMEM =
  capabilities().secrets.backend === 'secretmem'
    ? false
    : `no memfd_secret here: ${capabilities().secrets.backendFallback?.reason}`;

function vmLckBytes(): number {
  const kb = /^VmLck:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'latin1'))![1]!;
  return Number(kb) * 1024;
}

function mappingOf(view: ArrayBufferView) {
  const address = binding.addressOf(view);
  return readMappings().find((m) => m.start <= address && address < m.end)!;
}

function secretmemMappings(): number {
  return readMappings().filter((m) => m.path.startsWith('/secretmem')).length;
}

const EIO = -5;

t.test(
  'secretmem reads EIO through /proc/self/mem, mlock reads back; both count in VmLck',
  { skip: NO_TESTING_BUILD || NO_SECRETMEM },
  async (t) => {
    await nextTurn();
    for (const placement of ['pooled', 'guarded'] as const) {
      const lckBefore = vmLckBytes();
      const hidden = allocSecret(64, { placement, backend: 'secretmem' });
      const lckHidden = vmLckBytes();
      const plain = allocSecret(64, { placement, backend: 'mlock' });
      const lckPlain = vmLckBytes();
      hidden.buffer.fill(0x5a);
      plain.buffer.fill(0xa5);
      t.equal(hidden.backend, 'secretmem');
      t.equal(plain.backend, 'mlock');
      const read = hooks().readSelfMem(binding.addressOf(hidden.buffer), 64);
      t.equal(read, EIO, `${placement}: secretmem: pread of /proc/self/mem fails with EIO`);
      const back = hooks().readSelfMem(binding.addressOf(plain.buffer), 64);
      t.ok(
        Buffer.isBuffer(back) && back.every((b) => b === 0xa5),
        `${placement}: mlock: the bytes read back through /proc/self/mem`,
      );
      // One new page each (a new slab or mapping: the file runs alone, so
      // no slab of either kind is left over from before).
      t.equal(lckHidden - lckBefore, pageSize, `${placement}: secretmem: VmLck +1 page (guard pages not counted)`);
      t.equal(lckPlain - lckHidden, pageSize, `${placement}: mlock: VmLck +1 page`);
      const hiddenMap = mappingOf(hidden.buffer);
      t.match(hiddenMap.path, /^\/secretmem/, 'secretmem: a /secretmem mapping');
      t.ok(hiddenMap.flags.includes('lo') && hiddenMap.flags.includes('dd'), 'locked and not dumped (VmFlags lo dd)');
      t.ok(hiddenMap.flags.includes('dc'), 'dropped on fork (VmFlags dc): a shared mapping cannot be wiped');
      t.ok(
        lockCounts(hidden.buffer).every((c) => c >= 1),
        "counted in memlock's table and the lockable-page limit",
      );
      t.ok(hidden.noCoreDump);
      t.equal(hidden.onFork, 'drop');
      hidden.free();
      plain.free();
      await nextTurn();
      t.equal(vmLckBytes(), lckBefore, `${placement}: VmLck back where it was`);
    }
  },
);

t.test('the chosen backend in stats(), secretStats() and capabilities()', { skip: NO_SECRETMEM }, async (t) => {
  await nextTurn();
  const before = stats().secrets;
  const secrets = [allocSecret(16), allocSecret(16, { backend: 'mlock' }), allocSecret(5000)];
  t.same(
    secrets.map((s) => s.backend),
    ['secretmem', 'mlock', 'secretmem'],
    "'auto' takes secretmem",
  );
  t.equal(secrets[0]!.backendFallback, undefined, 'and has no fallback to explain');
  t.same(stats().secrets, { secretmem: before.secretmem + 2, mlock: before.mlock + 1, v8Heap: before.v8Heap });
  t.equal(secretStats().secretmemLive, before.secretmem + 2);
  t.ok(secretStats().secretmemBytes >= 3 * pageSize, 'secretmem bytes mapped: a slab and a 2-page secret');
  t.equal(capabilities().secrets.backend, 'secretmem');
  for (const s of secrets) s.free();
  await nextTurn();
  t.same(stats().secrets, before);
});

t.test(
  '100,000 pooled 32-byte secretmem secrets: a bounded number of mappings and no file descriptor kept',
  { skip: NO_SECRETMEM },
  async (t) => {
    await nextTurn();
    const fdsBefore = readdirSync('/proc/self/fd').length;
    const mapsBefore = secretmemMappings();
    const secrets: SecretBuffer[] = [];
    for (let i = 0; i < 100_000; i += 1) {
      const secret = allocSecret(32, { backend: 'secretmem' });
      secret.buffer.writeUInt32LE(i, 0);
      secrets.push(secret);
    }
    const fdsPeak = readdirSync('/proc/self/fd').length;
    const mapsPeak = secretmemMappings();
    t.ok(
      secrets.every((s, i) => s.buffer.readUInt32LE(0) === i),
      'every secret holds what was written',
    );
    t.equal(fdsPeak, fdsBefore, 'no file descriptor kept: each is closed once its slab is mapped');
    // 3.2 MB in slabs of 4 KiB doubling to 1 MiB: 9 slabs make 2 MiB - 4 KiB, two more of 1 MiB the rest.
    t.equal(mapsPeak - mapsBefore, 11, `${mapsPeak - mapsBefore} secretmem mappings for 100,000 secrets`);
    t.ok(secretStats().slabs >= 11);
    for (const s of secrets) s.free();
    await nextTurn();
    t.equal(secretmemMappings(), mapsBefore, 'every slab unmapped once empty');
  },
);

t.test('protect(): readonly and noaccess per the kernel; pooled secrets refuse', { skip: NO_SECRETMEM }, (t) => {
  for (const backend of ['secretmem', 'mlock'] as const) {
    const secret = allocSecret(100, { placement: 'guarded', backend });
    secret.buffer.fill(9);
    t.equal(secret.protection, 'readwrite');
    secret.protect('readonly');
    let flags = mappingOf(secret.buffer).flags;
    t.ok(flags.includes('rd') && !flags.includes('wr'), `${backend}: readonly: VmFlags rd, no wr`);
    t.equal(secret.buffer[99], 9, 'still readable');
    secret.protect('noaccess');
    flags = mappingOf(secret.buffer).flags;
    t.ok(!flags.includes('rd') && !flags.includes('wr'), `${backend}: noaccess: neither rd nor wr`);
    t.equal(secret.protection, 'noaccess');
    t.ok(
      lockCounts(secret.buffer).every((c) => c >= 1),
      'still locked and counted',
    );
    secret.free(); // made writable again to be zeroed
    t.doesNotThrow(() => secret.protect('readwrite'), 'after free: nothing to do');
  }
  const large = allocSecret(5000); // pages of its own, unguarded
  large.protect('noaccess');
  large.protect('readwrite');
  large.buffer[4999] = 1;
  large.free();
  const pooled = allocSecret(32);
  t.throws(() => pooled.protect('noaccess'), { name: 'MemlockError', code: 'ERR_MEMLOCK_SECRET_POOLED' });
  t.equal(pooled.protection, 'readwrite', 'nothing changed');
  pooled.buffer[0] = 1;
  const anyProtect = pooled.protect.bind(pooled) as (mode: unknown) => void;
  t.throws(() => anyProtect('none'), { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => anyProtect(undefined), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => anyProtect(0), { code: 'ERR_INVALID_ARG_TYPE' });
  pooled.free();
  t.end();
});

t.test('bad backend: ERR_INVALID_ARG_VALUE and nothing allocated', (t) => {
  const before = secretStats();
  const anyAlloc = allocSecret as (size: number, options: unknown) => SecretBuffer;
  t.throws(() => anyAlloc(32, { backend: 'memfd' }), { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => anyAlloc(32, { backend: 1 }), { code: 'ERR_INVALID_ARG_TYPE' });
  t.same(secretStats(), before);
  t.end();
});

t.test('a noaccess secret read from JavaScript kills the process with SIGSEGV; readwrite restores it', (t) => {
  const killed = runFixture('secret-backend.ts', { args: ['noaccess'] });
  t.equal(killed.signal, 'SIGSEGV', `the read faults (status ${killed.status}, ${killed.stderr.slice(0, 200)})`);
  t.equal(killed.stdout, '', 'before it printed anything');
  const restored = runFixture('secret-backend.ts', { args: ['noaccess', 'readwrite'] });
  t.equal(restored.status, 0, restored.stderr);
  t.same(JSON.parse(restored.stdout), { sum: 700, protection: 'readwrite' }, 'the bytes are all there again');
  t.end();
});

t.test(
  'a forked child has no secretmem mapping: touching it faults, the parent keeps it',
  { skip: NO_TESTING_BUILD || NO_SECRETMEM },
  (t) => {
    const child = runFixture('secret-backend.ts', { args: ['fork'] });
    t.equal(child.status, 0, child.stderr);
    const r = JSON.parse(child.stdout);
    t.equal(r.secret.backend, 'secretmem');
    t.equal(r.secret.onFork, 'drop');
    t.not(r.status, 0, `the child could not read it (status ${r.status})`);
    t.equal(r.bytes, 0, 'and sent nothing');
    t.ok(r.still, "the parent's secret is intact");
    t.end();
  },
);

t.test(
  "a seccomp filter refusing memfd_secret: 'auto' falls back to mlock and says why once; 'secretmem' is refused",
  { skip: NO_TESTING_BUILD || NO_SECRETMEM },
  (t) => {
    const child = runFixture('secret-backend.ts', { args: ['seccomp'] });
    t.equal(child.status, 0, child.stderr);
    const r = JSON.parse(child.stdout);
    t.equal(r.installed, 0, 'the filter is in place');
    const expected = { code: 'EPERM', errno: -1, syscall: 'memfd_secret' };
    for (const which of ['first', 'second']) {
      t.equal(r[which].backend, 'mlock', `${which}: the mlock backend`);
      t.match(r[which].fallback, expected, `${which}: the refusal on the secret`);
      t.equal(r[which].onFork, 'wipe');
      t.equal(r[which].locked, true);
    }
    t.match(r.explicit, { ...expected, isMemlockError: true, code: 'ERR_MEMLOCK_SECRETMEM_UNAVAILABLE' });
    t.equal(r.messages.length, 1, 'one memlock:secret-backend message for three secrets');
    t.match(r.messages[0], { backend: 'mlock', requested: 'auto', fallback: expected });
    t.match(r.capabilities, { backend: 'mlock', backendFallback: expected }, 'capabilities() says so too');
    t.match(r.stats, { live: 2, secretmemLive: 0, secretmemBytes: 0 });
    t.end();
  },
);

t.test(
  "RLIMIT_MEMLOCK 64 KiB without CAP_IPC_LOCK: a large 'auto' secret falls back (EAGAIN from mmap), a small one fits",
  { skip: cannotDropPrivileges() || NO_SECRETMEM },
  (t) => {
    const child = runFixture('secret-backend.ts', { args: ['rlimit'], prefix: unprivileged(65536) });
    t.equal(child.status, 0, child.stderr);
    const r = JSON.parse(child.stdout);
    const expected = { code: 'EAGAIN', errno: -11, syscall: 'mmap' };
    t.match(r.large, { backend: 'mlock', fallback: expected, locked: false }, 'mlock backend, best effort');
    t.match(r.explicit, { ...expected, isMemlockError: true, code: 'ERR_MEMLOCK_SECRETMEM_UNAVAILABLE' });
    t.match(r.small, { backend: 'secretmem', locked: true }, 'a shortage is not a refusal: secretmem again');
    t.equal(r.small.fallback, undefined);
    t.equal(r.messages.length, 1, 'one message');
    t.match(r.messages[0], { fallback: expected });
    t.end();
  },
);
