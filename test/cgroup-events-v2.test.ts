// cgroup v2 memory events through the code the paging monitor uses
// (src/paging/cgroup-events.ts), on a faithful copy of a v2 cgroup's
// memory.events and memory.swap.events (this machine's cgroup v2 hierarchy
// has no memory controller; test/cgroup-events.test.ts drives a real v1
// one). The kernel raises a file-modified (inotify) event on these files when
// a count changes; here the copy is rewritten, which raises the same event.
// test-tier: quick
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once, EventEmitter } from 'node:events';
import t from 'tap';
import { CgroupEvents, parseKeyedCounts, type CgroupMemoryEvent } from '../src/paging/cgroup-events';

// As Linux 6.x writes them (mm/memcontrol.c memory_events_show, swap_events_show).
const events = (c: Record<string, number>) =>
  ['low', 'high', 'max', 'oom', 'oom_kill', 'oom_group_kill'].map((k) => `${k} ${c[k] ?? 0}\n`).join('');
const swapEvents = (c: Record<string, number>) => ['high', 'max', 'fail'].map((k) => `${k} ${c[k] ?? 0}\n`).join('');

function copyOfV2(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'memlock-cgroup-v2-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'memory.events'), events({ high: 2 }));
  writeFileSync(path.join(dir, 'memory.swap.events'), swapEvents({}));
  writeFileSync(path.join(dir, 'memory.current'), '1048576\n');
  return dir;
}

function watchCopy(t: { teardown(fn: () => void): void }, dir: string) {
  const bus = new EventEmitter();
  const watch = new CgroupEvents({
    version: 2,
    dir,
    threadId: 0,
    onEvent: (event) => bus.emit('event', event),
    onEnd: (reason) => bus.emit('end', reason),
  });
  t.teardown(() => watch.close());
  watch.start();
  return { watch, bus };
}

// The watch never keeps the process alive (persistent: false, an unref'd
// timer): this does, while the tests wait for its events.
const keepAlive = setInterval(() => {}, 1000);
t.teardown(() => clearInterval(keepAlive));

t.test('parseKeyedCounts reads the kernel layout, with a prefix', (t) => {
  t.same(parseKeyedCounts(swapEvents({ max: 4 }), 'swap_'), { swap_high: 0, swap_max: 4, swap_fail: 0 });
  t.same(parseKeyedCounts('oom_kill_disable 0\nunder_oom 1\noom_kill 3\n'), {
    oom_kill_disable: 0,
    under_oom: 1,
    oom_kill: 3,
  });
  t.end();
});

t.test('v2 copy: a rewritten memory.events is an event with what grew, via inotify', async (t) => {
  const dir = copyOfV2(t);
  const { watch, bus } = watchCopy(t, dir);
  t.equal(watch.status().via, 'inotify');
  t.same(watch.status().counts, {
    low: 0,
    high: 2,
    max: 0,
    oom: 0,
    oom_kill: 0,
    oom_group_kill: 0,
    swap_high: 0,
    swap_max: 0,
    swap_fail: 0,
  });
  const next = once(bus, 'event');
  writeFileSync(path.join(dir, 'memory.events'), events({ high: 5, max: 1, oom: 1, oom_kill: 1 }));
  const [event] = (await next) as [CgroupMemoryEvent];
  t.equal(event.via, 'inotify');
  t.equal(event.cause, 'memory.events');
  t.same(event.changed, { high: 3, max: 1, oom: 1, oom_kill: 1 });
  t.equal(event.counts['high'], 5);
  t.equal(event.underOom, null);

  const swap = once(bus, 'event');
  writeFileSync(path.join(dir, 'memory.swap.events'), swapEvents({ max: 2, fail: 1 }));
  const [swapEvent] = (await swap) as [CgroupMemoryEvent];
  t.equal(swapEvent.cause, 'memory.swap.events');
  t.same(swapEvent.changed, { swap_max: 2, swap_fail: 1 });
  t.same(watch.status().problems, []);
});

t.test('v2 copy: a cgroup that goes away ends the watch, said once', async (t) => {
  const dir = copyOfV2(t);
  const { bus } = watchCopy(t, dir);
  const ended = once(bus, 'end');
  rmSync(path.join(dir, 'memory.events'));
  const [reason] = (await ended) as [string];
  t.match(reason, /memory\.events|cannot be read/);
});

t.test('v2 copy without memory.swap.events (no swap accounting): watched, no problem', (t) => {
  const dir = copyOfV2(t);
  rmSync(path.join(dir, 'memory.swap.events'));
  const { watch } = watchCopy(t, dir);
  t.same(watch.status().problems, []);
  t.notOk('swap_max' in watch.status().counts);
  t.end();
});

t.test('v1 copy where cgroup.event_control cannot be written: polled, and the problem said', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'memlock-cgroup-v1-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'memory.failcnt'), '0\n');
  writeFileSync(path.join(dir, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n');
  const bus = new EventEmitter();
  const watch = new CgroupEvents({
    version: 1,
    dir,
    threadId: 0,
    pollMs: 50,
    onEvent: (event) => bus.emit('event', event),
    onEnd: (reason) => bus.emit('end', reason),
  });
  t.teardown(() => watch.close());
  t.same(watch.counterFds, [], 'nothing registered: there is no cgroup.event_control');
  watch.start();
  const status = watch.status();
  t.equal(status.via, 'poll');
  t.equal(status.problems.length, 1);
  t.match(status.problems[0], /cgroup\.event_control/);
  const next = once(bus, 'event');
  writeFileSync(path.join(dir, 'memory.failcnt'), '7\n');
  const [event] = (await next) as [CgroupMemoryEvent];
  t.equal(event.via, 'poll');
  t.same(event.changed, { failcnt: 7 });
});
