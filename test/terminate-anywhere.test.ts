// Threads and processes end at any instant (contract rule 12): for every
// native entry point, workers looping on it are terminated at random points,
// end themselves with process.exit(), and run out of heap while holding
// memlock memory; and the process exits from the main thread, from an
// 'exit' listener registered after every other, and from 'beforeExit', each
// while a worker loops on it. None of it may abort the process or leave a
// count behind. The entry points come from the addon's own exports
// (NATIVE_FUNCTIONS, which module.test.ts holds equal to them), so a new
// one joins the harness by being exported.
import { spawn } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { NATIVE_FUNCTIONS } from '../src/binding';

const fixture = path.join(__dirname, 'fixtures', 'terminate-anywhere.cjs');
const { EXERCISES } = require(fixture) as { EXERCISES: Record<string, () => void> };
const ROUNDS = 8;
const EXITS = ['main-exit', 'exit-listener', 'before-exit'] as const;

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

// A plain node child (no TypeScript loader: workers start fast); the
// timeout is a guard against a hang, not a speed bound.
function run(args: string[]): Promise<Run> {
  const { NODE_OPTIONS: _runnerHooks, ...env } = process.env;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', fixture, ...args], {
      env,
      timeout: 300_000,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

// What an abort leaves on stderr, from node-addon-api, V8 or node.
const ABORT = /terminate called|FATAL ERROR|Check failed|Aborted|Segmentation/;

t.test('every native entry point has an exercise in the harness', (t) => {
  t.same(Object.keys(EXERCISES).sort(), [...NATIVE_FUNCTIONS].sort());
  t.end();
});

const terminations: Record<string, number> = {};

// Two children at a time: the machine has two cores.
t.test('a thread or the process ends inside any native call', { jobs: 2 }, async (t) => {
  for (const entry of NATIVE_FUNCTIONS) {
    t.test(entry, async (t) => {
      const terminate = await run(['terminate', entry, String(ROUNDS)]);
      t.equal(terminate.signal, null, `${entry}: no signal (${terminate.stderr.slice(-1500)})`);
      t.equal(terminate.status, 0, `${entry}: workers ended every way, the process lives on`);
      t.notMatch(terminate.stderr, ABORT, `${entry}: nothing aborted`);
      const report = JSON.parse(terminate.stdout.trim().split('\n').at(-1) || '{}') as {
        ends?: { terminated: number; selfExit: number; outOfHeap: number };
        left?: { heldLocks: number; lockedPages: number; secrets: number; pinned: number; verified: boolean };
      };
      t.same(report.ends, { terminated: ROUNDS, selfExit: 1, outOfHeap: 1 }, `${entry}: every kind of end happened`);
      t.same(
        report.left,
        { heldLocks: 0, lockedPages: 0, secrets: 0, pinned: 0, verified: true },
        `${entry}: no count left behind`,
      );
      terminations[entry] = report.ends?.terminated ?? 0;
      for (const how of EXITS) {
        const exit = await run(['exit', entry, how]);
        t.equal(exit.signal, null, `${entry}, ${how}: no signal (${exit.stderr.slice(-1500)})`);
        t.equal(exit.status, 0, `${entry}, ${how}: exit code 0`);
        t.notMatch(exit.stderr, ABORT, `${entry}, ${how}: nothing aborted`);
      }
    });
  }
});

t.test('terminations made per entry point', (t) => {
  t.comment(
    `Node ${process.version}: ${Object.entries(terminations)
      .map(([entry, n]) => `${entry} ${n}`)
      .join(', ')}`,
  );
  t.equal(Object.keys(terminations).length, NATIVE_FUNCTIONS.length, 'every entry point was terminated inside');
  t.end();
});
