// lockCode(): a counted lock on every file-backed executable mapping, per the
// kernel (VmFlags lo on each r-xp file mapping), and its release.
// test-tier: quick
import { realpathSync } from 'node:fs';
import t from 'tap';
import { binding } from '../src/binding';
import { lockCode, locks, stats, verify, type CodeLock } from '../src/index';
import { procMappings } from '../src/proc';
import { cannotDropPrivileges, runFixture, unprivileged } from './helpers/child';
import { vmLockedBytes } from './helpers/kernel';

const codeMappings = () => procMappings('self').filter((m) => m.perms.includes('x') && m.path.startsWith('/'));

t.test('every executable file mapping is locked, counted and labelled; release returns them', (t) => {
  const before = stats();
  const vmLckBefore = vmLockedBytes();
  const handle = lockCode({ label: 'code' });
  const mapped = codeMappings();
  t.ok(mapped.length >= 3, `${mapped.length} executable file mappings (node, libc, this addon, ...)`);
  t.same(
    mapped.filter((m) => !m.flags.includes('lo')).map((m) => m.path),
    [],
    'VmFlags lo on each of them',
  );
  t.same(
    mapped.filter((m) => m.rssBytes !== m.end - m.start).map((m) => m.path),
    [],
    'each wholly resident (Rss)',
  );
  // smaps Locked: is proportional (Pss): a page every process maps (libdl's
  // one page) rounds to 0 kB there. VmLck counts the locked mappings whole.
  t.equal(vmLockedBytes() - vmLckBefore, handle.bytes, 'VmLck grew by exactly the bytes locked');
  t.equal(handle.mappings.length, mapped.length, 'the handle lists each');
  t.equal(
    handle.bytes,
    mapped.reduce((sum, m) => sum + m.end - m.start, 0),
    'and the bytes they cover',
  );
  t.ok(
    handle.mappings.some((m) => m.path === realpathSync(process.execPath)),
    'node itself is among them',
  );
  t.ok(
    handle.mappings.some((m) => m.path.endsWith('.node')),
    'and the addon',
  );
  const labelled = locks().filter((l) => l.label?.startsWith('code /'));
  t.equal(labelled.length, mapped.length, 'locks() shows one lock per mapping, labelled with its file');
  t.equal(stats().lockedPages, before.lockedPages + handle.bytes / binding.pageSize, 'counted page by page');
  t.ok(verify().ok, "memlock's table and the kernel agree");

  const nested = lockCode();
  handle.release();
  t.ok(handle.released);
  t.ok(
    codeMappings().every((m) => m.flags.includes('lo')),
    'a second lockCode keeps them locked',
  );
  nested.release();
  t.same(
    codeMappings()
      .filter((m) => m.flags.includes('lo'))
      .map((m) => m.path),
    [],
    'the last release unlocks them all',
  );
  t.equal(stats().lockedPages, before.lockedPages);
  t.equal(stats().vmLckBytes, before.vmLckBytes, 'VmLck as before');
  handle.release();
  t.end();
});

t.test(
  'refused by RLIMIT_MEMLOCK without CAP_IPC_LOCK: its errno, nothing left locked',
  { skip: cannotDropPrivileges() ?? false },
  (t) => {
    const child = runFixture('lock-code-rlimit.ts', { prefix: unprivileged(1 << 20) });
    t.equal(child.status, 0, child.stderr.slice(-2000));
    const r = JSON.parse(child.stdout) as {
      code: string;
      syscall: string;
      vmLck: number;
      heldLocks: number;
      lockedPages: number;
    };
    t.equal(r.code, 'ENOMEM');
    t.equal(r.syscall, 'mlock');
    t.equal(r.vmLck, 0, 'VmLck 0: the mappings locked before the refusal were unlocked again');
    t.equal(r.heldLocks, 0);
    t.equal(r.lockedPages, 0);
    t.end();
  },
);

t.test('bad arguments', (t) => {
  const before = stats().lockedPages;
  t.throws(() => lockCode(5 as never), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => lockCode({ label: 5 } as never), { code: 'ERR_INVALID_ARG_TYPE' });
  const handle = lockCode();
  const CodeLockClass = handle.constructor as new () => CodeLock;
  handle.release();
  t.throws(() => new CodeLockClass(), { code: 'ERR_ILLEGAL_CONSTRUCTOR' });
  t.equal(stats().lockedPages, before, 'nothing counted');
  t.end();
});
