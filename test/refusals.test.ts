// One way to fail (src/native-failure.ts): every call that takes locks
// publishes its refusal by the lockable-page limit on memlock:limit, and
// memlock/prometheus counts it, whichever call it was.
// test-tier: quick
import diagnosticsChannel from 'node:diagnostics_channel';
import t from 'tap';
import { Registry } from 'prom-client';
import {
  allocPinned,
  allocSecret,
  getLockablePageLimit,
  lock,
  lockCode,
  pageSize,
  setLockablePageLimit,
  stats,
  type LimitMessage,
} from '../src/index';
import { registerMetrics } from '../src/metrics/prometheus';

const CALLS: Record<string, () => unknown> = {
  'lock()': () => lock(new Uint8Array(pageSize * 4)),
  'allocSecret() pooled': () => allocSecret(32),
  'allocSecret() guarded': () => allocSecret(32, { placement: 'guarded' }),
  'allocPinned()': () => allocPinned(pageSize * 4),
  'allocPinned() hugePages try': () => allocPinned(pageSize * 4, { hugePages: 'try' }),
  'lockCode()': () => lockCode(),
};

async function refusedCount(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric('memlock_refused_locks_total')!.get();
  return metric.values.find((v) => v.labels['reason'] === 'limit')?.value ?? 0;
}

t.test('every refusal by the lockable-page limit reaches memlock:limit and the Prometheus counter', async (t) => {
  const registry = new Registry();
  registerMetrics({ registry });
  const messages: LimitMessage[] = [];
  const listen = (message: unknown) => messages.push(message as LimitMessage);
  diagnosticsChannel.subscribe('memlock:limit', listen);
  const limit = getLockablePageLimit();
  t.teardown(() => {
    diagnosticsChannel.unsubscribe('memlock:limit', listen);
    setLockablePageLimit(limit);
  });
  for (const [name, call] of Object.entries(CALLS)) {
    const before = { stats: stats(), counted: await refusedCount(registry), messages: messages.length };
    setLockablePageLimit(before.stats.lockedPages);
    t.throws(call, { code: 'ERR_MEMLOCK_LIMIT' }, `${name}: refused by the limit`);
    setLockablePageLimit(limit);
    const published = messages.slice(before.messages);
    t.equal(published.length, 1, `${name}: published once on memlock:limit`);
    t.ok(
      published[0]!.pages > 0 && published[0]!.newPages > 0 && published[0]!.newPages <= published[0]!.pages,
      `${name}: with its pages`,
    );
    t.equal(published[0]!.limitPages, before.stats.lockedPages, `${name}: and the limit that refused it`);
    t.equal(await refusedCount(registry), before.counted + 1, `${name}: counted once by memlock_refused_locks_total`);
    const after = stats();
    t.equal(after.lockedPages, before.stats.lockedPages, `${name}: nothing changed`);
    t.equal(after.heldLocks, before.stats.heldLocks);
  }
});
