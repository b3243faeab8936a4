// The testing build (the wipe check before munmap), loaded before src/.
// test-tier: quick
import { NO_TESTING_BUILD } from './helpers/testing-build';
import t from 'tap';
import { binding } from '../src/binding';
import {
  allocSecret,
  getLockablePageLimit,
  lock,
  lockCounts,
  MAX_SECRET_SIZE,
  pageSize,
  secretStats,
  setLockablePageLimit,
  stats,
  type SecretBuffer,
} from '../src/index';
import { SKIP_MADVISE_FLAGS_UNDER_QEMU, SKIP_SLOW_UNDER_QEMU } from './helpers/child';
import { kernelLockState, readMappings } from './helpers/kernel';
import { hooks } from './helpers/hooks';
import { mappingCount, secretMappingCount } from './helpers/maps';
import { needs } from './helpers/capability';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** VmFlags of the mapping holding `view`. */
function flagsOf(view: ArrayBufferView): string[] {
  const address = binding.addressOf(view);
  const mapping = readMappings().find((m) => m.start <= address && address < m.end);
  if (!mapping) throw new Error('no mapping holds the view');
  return mapping.flags;
}

if (!NO_TESTING_BUILD) {
  hooks().setVerifyWipe(true);
  t.teardown(() => hooks().setVerifyWipe(false));
}

for (const placement of ['pooled', 'guarded'] as const) {
  t.test(`${placement}: locked, not dumped, wiped on fork, per the kernel (the mlock backend)`, async (t) => {
    const secret = allocSecret(48, { placement, backend: 'mlock' });
    t.equal(secret.size, 48);
    t.equal(secret.buffer.length, 48);
    t.equal(secret.placement, placement);
    t.equal(secret.locked, true);
    t.ok(
      secret.buffer.every((b) => b === 0),
      'starts zeroed',
    );
    const flags = flagsOf(secret.buffer);
    t.ok(flags.includes('dd'), 'VmFlags dd: excluded from core dumps', {
      skip: SKIP_MADVISE_FLAGS_UNDER_QEMU || needs('dontDump'),
    });
    t.ok(flags.includes('wf'), 'VmFlags wf: wiped on fork', {
      skip: SKIP_MADVISE_FLAGS_UNDER_QEMU || needs('wipeOnFork'),
    });
    t.equal(secret.noCoreDump, binding.platform.dontDump, 'noCoreDump says what the platform gave');
    t.ok(flags.includes('lo'), 'VmFlags lo: locked');
    t.equal(
      kernelLockState(secret.buffer).lockedPages,
      kernelLockState(secret.buffer).totalPages,
      'smaps: every page locked',
    );
    t.ok(kernelLockState(secret.buffer).lockedBytes >= pageSize, 'smaps Locked: covers it');
    t.ok(
      lockCounts(secret.buffer).every((c) => c >= 1),
      'a counted lock, visible in lockCounts',
    );
    t.ok(stats().lockedPages >= 1, 'and in stats');
    secret.free();
    await nextTurn();
  });
}

t.test("onFork: 'drop': VM_DONTCOPY instead of wipe-on-fork", { skip: needs('dropOnFork', 'dontDump') }, (t) => {
  const secret = allocSecret(32, { onFork: 'drop', backend: 'mlock' });
  t.equal(secret.onFork, 'drop');
  const flags = flagsOf(secret.buffer);
  t.ok(flags.includes('dc'), 'VmFlags dc: not copied into children', { skip: SKIP_MADVISE_FLAGS_UNDER_QEMU });
  t.notOk(flags.includes('wf'), 'not wf');
  t.ok(flags.includes('dd'), 'still undumpable', { skip: SKIP_MADVISE_FLAGS_UNDER_QEMU });
  t.ok(flags.includes('lo'), 'still locked');
  secret.free();
  t.end();
});

t.test('guarded: the secret ends at the guard page; its data pages are all it maps', (t) => {
  const secret = allocSecret(100, { placement: 'guarded' });
  const address = binding.addressOf(secret.buffer);
  t.equal((address + 100) % pageSize, 0, 'flush against the trailing guard page');
  const mappings = readMappings();
  const data = mappings.find((m) => m.start <= address && address < m.end)!;
  const after = mappings.find((m) => m.start === data.end);
  const before = mappings.find((m) => m.end === data.start);
  t.ok(after && !after.flags.includes('rd') && !after.flags.includes('wr'), 'an inaccessible page follows');
  t.ok(before && !before.flags.includes('rd') && !before.flags.includes('wr'), 'an inaccessible page precedes');
  secret.free();
  t.end();
});

t.test('free zeroes, detaches, and a second free is harmless', async (t) => {
  const keep = allocSecret(32); // keeps the slab mapped, so the slot is reused
  const secret = allocSecret(32);
  const address = binding.addressOf(secret.buffer);
  secret.buffer.fill(0xaa);
  const alias = new Uint8Array(secret.buffer.buffer, secret.buffer.byteOffset, 32);
  secret.free();
  t.ok(secret.freed);
  t.equal(secret.buffer.length, 0, 'the Buffer is detached');
  t.equal(alias.length, 0, 'so is every other view of it');
  t.doesNotThrow(() => secret.free(), 'second free');
  t.doesNotThrow(() => secret[Symbol.dispose](), 'dispose after free');
  const reused = allocSecret(32);
  t.equal(binding.addressOf(reused.buffer), address, 'the freed slot is reused');
  t.ok(
    reused.buffer.every((b) => b === 0),
    'and reads zeros: it was wiped',
  );
  reused.free();
  keep.free();
  await nextTurn();
});

t.test('memory is zero before the pool unmaps it', { skip: NO_TESTING_BUILD }, async (t) => {
  for (const placement of ['pooled', 'guarded'] as const) {
    const secret = allocSecret(3000, { placement });
    secret.buffer.fill(0xee);
    secret.free();
  }
  await nextTurn(); // emptied slabs are unmapped now
  const { checkedUnmaps, dirtyUnmaps } = hooks().wipeChecks();
  t.ok(checkedUnmaps > 0, 'unmaps were checked');
  t.equal(dirtyUnmaps, 0, 'every unmapped byte was zero before munmap');
});

t.test('using: disposed at the end of the block', async (t) => {
  let buffer: Buffer;
  {
    using secret = allocSecret(16);
    buffer = secret.buffer;
    buffer.write('token');
  }
  t.equal(buffer.length, 0, 'freed by dispose');
  await nextTurn();
});

t.test('slabs are unmapped once empty, and their locks are gone', async (t) => {
  await nextTurn();
  const before = { stats: stats(), secrets: secretStats() };
  const secrets = Array.from({ length: 300 }, () => allocSecret(64));
  t.ok(secretStats().slabs > before.secrets.slabs, 'slabs were mapped');
  t.ok(stats().lockedPages > before.stats.lockedPages, 'and locked');
  for (const s of secrets) s.free();
  await nextTurn();
  t.same(secretStats(), before.secrets, 'the pool is back where it was');
  t.equal(stats().lockedPages, before.stats.lockedPages, 'nothing left locked');
});

t.test('a user lock on secret memory ends when memlock unmaps it', async (t) => {
  await nextTurn();
  const secret = allocSecret(5000); // a dedicated mapping (over 2 KiB)
  const held = lock(secret.buffer);
  t.ok(
    lockCounts(secret.buffer).every((c) => c === 2),
    'pool lock + user lock',
  );
  const lockedBefore = stats().lockedPages;
  secret.free();
  t.equal(stats().lockedPages, lockedBefore - 2, 'the unmapped pages lost all their counts');
  t.ok(held.released, 'the user lock is gone with the memory');
  t.doesNotThrow(() => held.release());
});

t.test('bad arguments: codes, and nothing allocated', (t) => {
  const before = secretStats();
  const anyAlloc = allocSecret as (size: unknown, options?: unknown) => SecretBuffer;
  for (const bad of [0, -1, 1.5, NaN, Infinity, MAX_SECRET_SIZE + 1]) {
    t.throws(() => anyAlloc(bad), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }, `size ${bad}`);
  }
  for (const bad of ['32', null, undefined, 32n]) {
    t.throws(() => anyAlloc(bad), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }, `size ${String(bad)}`);
  }
  t.throws(() => anyAlloc(32, null), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => anyAlloc(32, 'guarded'), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => anyAlloc(32, { placement: 'heap' }), { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => anyAlloc(32, { placement: 1 }), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => anyAlloc(32, { lock: 'maybe' }), { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => anyAlloc(32, { onFork: 'keep' }), { code: 'ERR_INVALID_ARG_VALUE' });
  t.same(secretStats(), before);
  t.end();
});

t.test("memlock's lockable-page limit: ERR_MEMLOCK_LIMIT and nothing allocated, or unlocked best-effort", async (t) => {
  await nextTurn();
  const limit = getLockablePageLimit();
  t.teardown(() => setLockablePageLimit(limit));
  setLockablePageLimit(stats().lockedPages);
  const before = secretStats();
  t.throws(() => allocSecret(4096, { placement: 'guarded' }), { code: 'ERR_MEMLOCK_LIMIT' });
  t.throws(() => allocSecret(32), { code: 'ERR_MEMLOCK_LIMIT' }, 'a new slab is refused too');
  t.same(secretStats(), before, 'nothing mapped');
  const soft = allocSecret(32, { lock: 'best-effort' });
  t.equal(soft.locked, false, 'best-effort: unlocked memory');
  t.equal(secretStats().unlockedBytes, before.unlockedBytes + pageSize);
  soft.free();
  setLockablePageLimit(limit);
  await nextTurn();
  t.same(secretStats(), before);
});

t.test(
  'a million 32-byte secrets: written, read, freed; nothing left locked, mappings back',
  { skip: SKIP_SLOW_UNDER_QEMU },
  async (t) => {
    await nextTurn();
    const mappingsBefore = secretMappingCount();
    const processMappingsBefore = mappingCount();
    const lockedBefore = stats().lockedPages;
    const secrets: SecretBuffer[] = new Array(1_000_000);
    for (let i = 0; i < secrets.length; i += 1) {
      const secret = allocSecret(32);
      secret.buffer.writeUInt32LE(i, 0);
      secret.buffer.writeUInt32LE(i ^ 0x5a5a5a5a, 28);
      secrets[i] = secret;
    }
    const mappingsPeak = secretMappingCount();
    const processMappingsPeak = mappingCount();
    let intact = 0;
    for (let i = 0; i < secrets.length; i += 1) {
      const b = secrets[i]!.buffer;
      if (b.readUInt32LE(0) === i && b.readUInt32LE(28) === (i ^ 0x5a5a5a5a) >>> 0) intact += 1;
    }
    t.equal(intact, 1_000_000, 'every secret holds what was written');
    t.ok(
      mappingsPeak - mappingsBefore < 300,
      `secret memory takes a few hundred mappings at most (${mappingsPeak - mappingsBefore})`,
    );
    // The rest of the process grows too (the JS heap holds a million objects):
    // far below vm.max_map_count, where a mapping per secret would not be.
    t.ok(
      processMappingsPeak - processMappingsBefore < 5000,
      `the process as a whole: +${processMappingsPeak - processMappingsBefore}`,
    );
    for (const secret of secrets) secret.free();
    await nextTurn();
    t.equal(secretStats().live, 0);
    t.equal(stats().lockedPages, lockedBefore, 'nothing left locked');
    t.equal(secretMappingCount(), mappingsBefore, 'secret mappings back where they started');
  },
);
