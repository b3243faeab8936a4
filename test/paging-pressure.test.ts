// The paging monitor against real memory pressure, not mocks: a child in a
// memory cgroup of its own, capped at its baseline usage + 64 MiB, reads
// random pages of a 32 MiB file mapping (fadvise DONTNEED first,
// MADV_RANDOM) while a worker thread reads a 256 MiB mapping at random;
// pinned, it also provokes a busy loop and a GC-heavy stall. See
// test/fixtures/paging-pressure.ts (on the testing build, whose mapFile hook
// makes the file mappings). Skips, with the reason, where no memory
// cgroup can be made; removes every cgroup it makes, also when it fails.
// test-exclusive: a memory cgroup and the machine's memory
import { NO_TESTING_BUILD } from './helpers/testing-build';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { pressure } from '../src/index';
import { intoCgroups, makeTestCgroup, planCgroups } from './helpers/cgroup';
import { runFixture, UNDER_ASAN } from './helpers/child';
import { makeDataFile } from './helpers/file-map';

const MiB = 1 << 20;
const plan = planCgroups();
const psi = pressure();
const skip = UNDER_ASAN
  ? "the sanitizer's shadow memory and quarantine do not fit a cgroup of baseline + 64 MiB (the child is OOM-killed)"
  : 'reason' in plan
    ? plan.reason
    : NO_TESTING_BUILD || (psi.source === 'unavailable' ? `no PSI here: ${psi.reason}` : false);

interface Stall {
  verdict: string;
  start: number;
  end: number;
  reason: string;
  majorFaults: number;
  processMajorFaults: number;
  delayMs: number;
}

t.test(
  'paging under a tight memory cgroup: a PSI trigger fires, stalls are paging; pinned, none is, and a GC stall is gc',
  { skip },
  (t) => {
    if ('reason' in plan) return t.end();
    const dir = mkdtempSync(path.join(tmpdir(), 'memlock-pressure-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const hot = path.join(dir, 'hot');
    const background = path.join(dir, 'background');
    makeDataFile(hot, 32 * MiB);
    makeDataFile(background, 256 * MiB);

    const run = (pin: boolean) => {
      const group = makeTestCgroup(plan, pin ? 'pinned' : 'paged');
      try {
        const config = {
          hot,
          hotBytes: 32 * MiB,
          hotRandom: true,
          background,
          backgroundBytes: 256 * MiB,
          pin,
          limitFile: group.memory.limitFile,
          usageFile: group.memory.usageFile,
          // The same room for the worker's page cache in both runs: pinned,
          // the hot file's 32 MiB is locked in the cgroup and cannot be
          // reclaimed (64 MiB for both left the pinned child about 13 MiB,
          // and it was OOM-killed in some runs, with cgroup events on or off).
          headroomBytes: 64 * MiB + (pin ? 32 * MiB : 0),
          minSeconds: 6,
          maxSeconds: 60,
          triggerMs: 20,
          readsPerBlock: 2000,
          gcObjects: pin ? 400_000 : 0,
          cgroupEvents: true,
        };
        const child = runFixture('paging-pressure.ts', {
          prefix: intoCgroups(group),
          node: ['--expose-gc'],
          env: { MEMLOCK_PRESSURE_FIXTURE: JSON.stringify(config), MEMORY_PRESSURE_WATCH: '' },
        });
        t.equal(
          child.status,
          0,
          `${pin ? 'pinned' : 'paged'} child exits cleanly ${child.signal ?? ''} ${child.stderr}`,
        );
        return { report: JSON.parse(child.stdout || '{}'), group };
      } finally {
        t.same(group.remove(), [], 'its cgroups are removed');
        t.notOk(existsSync(group.memory.dir), 'gone from the memory hierarchy');
        if (group.unified) t.notOk(existsSync(group.unified), 'gone from the unified hierarchy');
      }
    };

    const paged = run(false).report;
    t.equal(paged.mode, 'psi', `a trigger was armed (${paged.source})`);
    t.ok(paged.limitBytes > paged.baselineBytes, 'the child capped its own cgroup');
    t.ok(paged.pressure.length >= 1, `the PSI trigger fired (${paged.pressure.length} events)`);
    t.ok(
      paged.pressure.every((e: { stallMs: number; thresholdMs: number }) => e.stallMs >= e.thresholdMs),
      'each event saw at least the threshold of stall in its window',
    );
    const paging = (paged.stalls as Stall[]).filter((s) => s.verdict === 'paging');
    t.ok(paging.length >= 1, `an event-loop stall was attributed to paging (${paging[0]?.reason})`);
    t.ok(
      paging.every((s) => s.majorFaults > 0),
      'with major faults on the JavaScript thread',
    );
    t.ok(paged.hotMajors > 0, `the hot reads took ${paged.hotMajors} major faults`);

    const pinned = run(true).report;
    t.equal(pinned.hotMajors, 0, 'pinned: the hot reads took no major fault');
    t.ok(
      pinned.processMajors > 0,
      `while the worker kept paging (${pinned.processMajors} major faults in the process)`,
    );
    t.ok(
      pinned.pressure.length >= 1,
      "and the trigger still fired: the pressure was real (and the monitor's own reads did not starve it)",
    );
    t.ok(
      pinned.stats.cgroupEvents >= 1,
      `the cgroup's own events were delivered while it ran at its limit (${pinned.stats.cgroupEvents}), and the child lived`,
    );
    t.ok(pinned.stalls.length >= 1, 'the monitor reported stalls (at least the deliberate busy loop)');
    t.notOk(
      (pinned.stalls as Stall[]).some((s) => s.verdict === 'paging'),
      'and none of them is paging',
    );
    t.ok(
      (pinned.stalls as Stall[]).every((s) => s.majorFaults === 0),
      'no stall had a major fault on the JavaScript thread',
    );
    const gcStalls = (pinned.stalls as Stall[]).filter(
      (s) => s.end > pinned.gcStall.start && s.start < pinned.gcStall.end,
    );
    t.ok(gcStalls.length >= 1, 'the GC-heavy stall was reported, under the same pressure');
    t.ok(
      gcStalls.some((s) => s.verdict === 'gc'),
      `and attributed to GC (${gcStalls.map((s) => s.reason).join('; ')})`,
    );
    t.notOk(
      gcStalls.some((s) => s.verdict === 'paging'),
      'not to paging',
    );
    t.end();
  },
);
