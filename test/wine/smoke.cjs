'use strict';
// The Windows build's smoke suite: node.exe under Wine loads lib/ and, through
// node-gyp-build, prebuilds/win32-x64/memlock.node (scripts/test-wine.sh runs
// it from the repo root, its output to files: Wine's node cannot write to a
// pipe). Prints one JSON line of results; exits 1 if any case failed.
//   node.exe test/wine/smoke.cjs
// Wine is not Windows (its VirtualLock is mlock and never hits the
// working-set quota), so what passes here still needs a run on Windows.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '../..');
const memlock = require('../../lib/index.js');
// Built by scripts/test-wine.sh: writes one byte anywhere (test/wine/poke.c).
const pokePath = path.join(root, 'build/wine/poke.node');

// A child that writes just outside a guarded secret: the guard page must kill it.
if (process.argv[2] === 'guard-child') {
  const [, , , offsetName, marker] = process.argv;
  const { poke } = require(pokePath);
  const secret = memlock.allocSecret(memlock.pageSize, { placement: 'guarded' });
  poke(secret.buffer, 0);
  poke(secret.buffer, memlock.pageSize - 1);
  fs.writeFileSync(marker, 'reached the guard page');
  poke(secret.buffer, offsetName === 'before' ? -1 : memlock.pageSize);
  fs.writeFileSync(marker, 'survived the guard page');
  process.exit(0);
}

const cases = {};
const warnings = [];
process.on('warning', (warning) => warnings.push(warning.code ?? warning.name));

function test(name, fn) {
  try {
    const detail = fn();
    cases[name] = detail === undefined ? 'ok' : { ok: true, ...detail };
  } catch (error) {
    cases[name] = `FAIL: ${error && error.code ? `[${error.code}] ` : ''}${error && error.message}`;
  }
}

function throwsCode(fn, code, what) {
  let thrown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown, `${what}: did not throw`);
  assert.equal(thrown.code, code, `${what}: ${thrown.message}`);
  return thrown;
}

const every = (counts, n) => counts.length > 0 && counts.every((c) => c === n);
const ps = memlock.pageSize;

test('capabilities', () => {
  const caps = memlock.capabilities();
  assert.equal(caps.backend, 'win32');
  assert.equal(caps.platform, 'win32');
  assert.equal(caps.countedLocks, true);
  assert.equal(caps.onFault, false);
  assert.equal(caps.lockAll, false);
  const { backend, backendFallback, ...secrets } = caps.secrets;
  assert.deepEqual(secrets, {
    locked: true,
    noCoreDump: false,
    onFork: 'no-fork',
    guardPages: true,
    zeroedOnFree: true,
  });
  // No memfd_secret off Linux: 'auto' gives locked memory, and says why.
  assert.equal(backend, 'mlock');
  assert.equal(backendFallback.code, 'ENOSYS');
  assert.equal(backendFallback.syscall, 'memfd_secret');
  assert.match(backendFallback.reason, /^memfd_secret is Linux-only \(this is win32\)/);
  assert.equal(caps.residency, true);
  assert.equal(caps.kernelAccount, false);
  assert.equal(caps.hugePages, false);
  assert.equal(caps.pagingMonitor, false);
});

test('page size and limit', () => {
  assert.equal(ps, 4096);
  assert.ok(memlock.getLockablePageLimit() > 0, 'a limit from GlobalMemoryStatusEx');
  return { pageSize: ps, limitPages: memlock.getLockablePageLimit() };
});

test('lock, nest, release', () => {
  const buffer = Buffer.alloc(4 * ps);
  const before = memlock.stats().lockedPages;
  const outer = memlock.lock(buffer);
  const pages = memlock.lockCounts(buffer).length;
  assert.ok(every(memlock.lockCounts(buffer), 1));
  assert.equal(memlock.stats().lockedPages, before + pages);
  const inner = memlock.lock(buffer);
  assert.ok(every(memlock.lockCounts(buffer), 2), 'nested: counts 2');
  assert.equal(memlock.stats().lockedPages, before + pages, 'nesting locks no new page');
  const { residentPages, totalPages } = memlock.residency(buffer);
  assert.equal(residentPages, totalPages, 'locked pages are in the working set');
  inner.release();
  assert.ok(every(memlock.lockCounts(buffer), 1), 'released to 1');
  outer.release();
  assert.ok(every(memlock.lockCounts(buffer), 0), 'released to 0');
  assert.equal(memlock.stats().lockedPages, before);
  return { pages, residentPages };
});

// Past Windows' default minimum working set (about 200 KiB): the working set
// must grow. Wine never refuses, so this only shows the path on Windows.
test('lock 64 MiB', () => {
  const buffer = Buffer.alloc(64 * 1024 * 1024);
  const lock = memlock.lock(buffer);
  assert.ok(every(memlock.lockCounts(buffer), 1));
  lock.release();
  assert.ok(every(memlock.lockCounts(buffer), 0));
});

test('lockMany all or nothing', () => {
  const limit = memlock.getLockablePageLimit();
  // Two views of one buffer two pages apart: they share no page, wherever it lies.
  const buffer = Buffer.alloc(8 * ps);
  const a = buffer.subarray(0, 2 * ps);
  const b = buffer.subarray(4 * ps, 6 * ps);
  const group = memlock.lockMany([a, b, a]);
  try {
    assert.ok(every(memlock.lockCounts(a), 2), 'a lock per view: a twice');
    assert.ok(every(memlock.lockCounts(b), 1), 'a lock per view: b once');
    assert.equal(memlock.residency(b).residentPages, memlock.residency(b).totalPages);
  } finally {
    group.release();
  }
  assert.ok(every(memlock.lockCounts(buffer), 0), 'released together');
  const before = memlock.stats();
  memlock.setLockablePageLimit(before.lockedPages + memlock.lockCounts(a).length);
  try {
    throwsCode(() => memlock.lockMany([a, b]), 'ERR_MEMLOCK_LIMIT', 'lockMany over the limit');
  } finally {
    memlock.setLockablePageLimit(limit);
  }
  assert.equal(memlock.stats().lockedPages, before.lockedPages, 'the view before the refused one was rolled back');
  assert.ok(every(memlock.lockCounts(buffer), 0));
});

test('lockable-page limit refuses and changes nothing', () => {
  const limit = memlock.getLockablePageLimit();
  const before = memlock.stats();
  const buffer = Buffer.alloc(2 * ps);
  memlock.setLockablePageLimit(before.lockedPages);
  try {
    throwsCode(() => memlock.lock(buffer), 'ERR_MEMLOCK_LIMIT', 'lock over the limit');
  } finally {
    memlock.setLockablePageLimit(limit);
  }
  const after = memlock.stats();
  assert.equal(after.lockedPages, before.lockedPages);
  assert.equal(after.heldLocks, before.heldLocks);
  assert.ok(every(memlock.lockCounts(buffer), 0));
});

test('bad arguments', () => {
  throwsCode(() => memlock.lock('not a view'), 'ERR_INVALID_ARG_TYPE', 'lock(string)');
  throwsCode(() => memlock.lock(42), 'ERR_INVALID_ARG_TYPE', 'lock(number)');
  throwsCode(() => memlock.lockCounts({}), 'ERR_INVALID_ARG_TYPE', 'lockCounts(object)');
  throwsCode(() => memlock.allocSecret('32'), 'ERR_INVALID_ARG_TYPE', 'allocSecret(string)');
  throwsCode(() => memlock.allocPinned('32'), 'ERR_INVALID_ARG_TYPE', 'allocPinned(string)');
  throwsCode(() => memlock.setLockablePageLimit('1'), 'ERR_INVALID_ARG_TYPE', 'setLockablePageLimit(string)');
});

for (const placement of ['pooled', 'guarded']) {
  test(`allocSecret ${placement}`, () => {
    const before = memlock.stats().lockedPages;
    const secret = memlock.allocSecret(100, { placement });
    assert.equal(secret.placement, placement);
    assert.equal(secret.locked, true);
    assert.equal(secret.onFork, 'no-fork');
    assert.equal(secret.noCoreDump, false);
    assert.equal(secret.buffer.length, 100);
    assert.ok(
      secret.buffer.every((b) => b === 0),
      'zeroed',
    );
    assert.ok(
      memlock.lockCounts(secret.buffer).every((c) => c >= 1),
      'its pages are counted',
    );
    assert.ok(memlock.stats().lockedPages > before || placement === 'pooled', 'a guarded secret locks its own page');
    secret.buffer.fill(0xa5);
    const arraybuffer = secret.buffer.buffer;
    secret.free();
    assert.equal(secret.freed, true);
    assert.equal(secret.buffer.length, 0, 'free detaches the Buffer');
    assert.equal(arraybuffer.byteLength, 0, 'and its ArrayBuffer');
    secret.free(); // twice is harmless
    if (placement === 'guarded') assert.equal(memlock.stats().lockedPages, before);
  });
}

test('unsupported calls throw ERR_MEMLOCK_UNSUPPORTED', () => {
  const before = memlock.stats().lockedPages;
  const buffer = Buffer.alloc(ps);
  const calls = {
    'lockAll()': () => memlock.lockAll(),
    'verify()': () => memlock.verify(),
    'kernelStatus()': () => memlock.kernelStatus(),
    'lock(x, { onFault: true })': () => memlock.lock(buffer, { onFault: true }),
  };
  const failed = [];
  for (const [name, call] of Object.entries(calls)) {
    try {
      const error = throwsCode(call, 'ERR_MEMLOCK_UNSUPPORTED', name);
      assert.ok(error instanceof memlock.MemlockError, `${name}: a MemlockError`);
    } catch (error) {
      failed.push(error.message);
    }
  }
  assert.equal(memlock.stats().lockedPages, before, 'nothing locked');
  assert.ok(every(memlock.lockCounts(buffer), 0));
  assert.deepEqual(failed, []);
});

test('allocPinned 64 KiB', () => {
  const before = memlock.stats().lockedPages;
  const pinned = memlock.allocPinned(64 * 1024);
  assert.equal(pinned.buffer.length, 64 * 1024);
  assert.equal(pinned.mappedBytes, 64 * 1024);
  assert.equal(pinned.hugePages, 'none');
  assert.ok(every(memlock.lockCounts(pinned.buffer), 1));
  assert.equal(memlock.stats().lockedPages, before + 16);
  pinned.buffer.fill(7);
  assert.equal(pinned.buffer[65535], 7);
  const { residentPages, totalPages } = memlock.residency(pinned.buffer);
  assert.equal(residentPages, totalPages);
  pinned.free();
  assert.equal(pinned.buffer.length, 0);
  assert.equal(memlock.stats().lockedPages, before);
});

// Windows reports an access violation as exit status 0xC0000005.
const ACCESS_VIOLATION = 0xc0000005;
const guard = {};
for (const side of ['after', 'before']) {
  test(`guard page ${side} a guarded secret`, () => {
    const marker = path.join(root, 'build/wine', `guard-${side}.txt`);
    fs.rmSync(marker, { force: true });
    const child = spawnSync(process.execPath, [__filename, 'guard-child', side, marker], {
      stdio: 'ignore',
      timeout: 120_000,
    });
    const reached = fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8') : 'nothing';
    guard[side] = {
      status: child.status,
      hex: child.status == null ? null : `0x${(child.status >>> 0).toString(16)}`,
      signal: child.signal,
      marker: reached,
      error: child.error?.message,
    };
    assert.equal(reached, 'reached the guard page');
    assert.equal(child.status, ACCESS_VIOLATION, `exit status ${guard[side].hex}`);
  });
}

// Warnings are emitted on a later tick: report once they are in.
setImmediate(() => {
  const failed = Object.values(cases).filter((v) => typeof v === 'string' && v.startsWith('FAIL')).length;
  const summary = {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    passed: Object.keys(cases).length - failed,
    failed,
    cases,
    guard,
    warnings,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = failed === 0 ? 0 : 1;
});
