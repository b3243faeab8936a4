// What a benchmark must undo on the way out (temporary files, a swapfile,
// child processes, locks and mappings), whether it finishes, throws or is
// interrupted. Locks and mappings would die with the process anyway; files
// and swap would not.
//
// Node runs signal handlers from the event loop: code that blocks for long
// must yield (`await tick()`) now and then, or an interrupt waits for it.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

type Undo = () => void;

const undos: { name: string; undo: Undo }[] = [];
const children = new Set<ChildProcess>();
let interrupted: NodeJS.Signals | null = null;

/** Registers `undo`; returns a function that runs it now (once) and forgets it. */
export function onCleanup(name: string, undo: Undo): () => void {
  const entry = { name, undo };
  undos.push(entry);
  return () => {
    const i = undos.indexOf(entry);
    if (i < 0) return;
    undos.splice(i, 1);
    undo();
  };
}

/** Runs every registered undo, newest first; a failing one is reported, not fatal. */
export function cleanupAll(): void {
  while (undos.length > 0) {
    const { name, undo } = undos.pop()!;
    try {
      undo();
    } catch (e) {
      process.stderr.write(`bench cleanup: ${name}: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
}

/**
 * A child to stop (SIGTERM, then SIGKILL) if the benchmark is interrupted.
 * One started after the interrupt (by code still unwinding) is killed at once.
 */
export function track(child: ChildProcess): void {
  if (interrupted !== null) {
    child.kill('SIGKILL');
    return;
  }
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Throws once the run is interrupted: loops call it before starting more work. */
export function checkInterrupted(): void {
  if (interrupted !== null) throw new Error(`interrupted by ${interrupted}`);
}

/** The signal that interrupted the run, or null. */
export const interruptedBy = (): NodeJS.Signals | null => interrupted;

/** One turn of the event loop: lets a pending SIGINT handler run. */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function stopChildren(): Promise<void> {
  const exits = [...children].map(
    (child) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const force = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(force);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  );
  await Promise.all(exits);
}

let installed = false;

/**
 * On SIGINT, SIGTERM or SIGHUP: stop the children, wait for them, undo
 * everything, and exit with 128 + the signal's number, as a shell expects.
 */
export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  // Also on a plain exit, or process.exit() from anywhere: nothing left behind.
  process.on('exit', () => {
    for (const child of children) child.kill('SIGKILL');
    cleanupAll();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (interrupted !== null) return; // a second ^C while cleaning up
      interrupted = signal;
      process.stderr.write(`\n${signal}: stopping and cleaning up\n`);
      void stopChildren().then(() => {
        cleanupAll();
        process.exit(128 + (os.constants.signals[signal] ?? 0));
      });
    });
  }
}

/**
 * Runs a benchmark's main: an error sets the exit code; after an interrupt
 * the signal handler reports, cleans up and exits, so nothing is done here.
 */
export function runMain(main: () => Promise<void>): void {
  main()
    .catch((e: unknown) => {
      if (interruptedBy() !== null) return;
      console.error(e);
      process.exitCode = 1;
    })
    .finally(() => {
      if (interruptedBy() === null) cleanupAll();
    });
}

/** A fresh directory under os.tmpdir(), removed with everything in it at cleanup. */
export function makeTempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memlock-bench-'));
  onCleanup(`remove ${dir}`, () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
