// Benchmarks that compare memlock with the bare syscalls in the same process
// run on the testing build (CMake target memlock_testing), which exports
// them; the shipped addon does not. Import this module first: it makes the
// build if needed (scripts/build-testing.sh) and has lib/ load it.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const root = path.join(__dirname, '..', '..');
export const TESTING_BUILD = path.join(root, 'build-cmake', 'memlock_testing.node');
if (!existsSync(TESTING_BUILD))
  execFileSync('sh', [path.join(root, 'scripts', 'build-testing.sh')], { stdio: 'inherit' });
if (!existsSync(TESTING_BUILD)) throw new Error('bench: this benchmark needs the testing build, which needs cmake');
process.env['MEMLOCK_NATIVE_BINDING'] = TESTING_BUILD;

/** The bare syscalls of the testing build (native/testing/test_hooks.cc). */
export interface RawSyscalls {
  rawMlock(view: ArrayBufferView): number;
  rawMunlock(view: ArrayBufferView): number;
  rawLockAll(flags: number): number;
}

export function rawSyscalls(binding: object): RawSyscalls {
  return binding as RawSyscalls;
}
