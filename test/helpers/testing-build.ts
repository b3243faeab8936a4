// The testing build (CMake target memlock_testing, made by
// scripts/build-testing.sh before the suite) for tests that need its hooks:
// raw syscalls behind memlock's back, fork probes, fault injection. Import
// this module first, before anything that loads src/: the library itself
// must run on that build, since the hooks act on its process-wide state.
// Other tests run on the shipped addon.
import { existsSync } from 'node:fs';
import path from 'node:path';

export const TESTING_BUILD = path.join(__dirname, '..', '..', 'build-cmake', 'memlock_testing.node');

const CMAKE_BUILDS = path.dirname(TESTING_BUILD);
const named = process.env['MEMLOCK_NATIVE_BINDING'];

/** Why tests that need the testing build skip, or false. */
export const NO_TESTING_BUILD: string | false = !existsSync(TESTING_BUILD)
  ? 'needs the testing build (build-cmake/memlock_testing.node, made by npm test with cmake)'
  : named && path.dirname(named) !== CMAKE_BUILDS
    ? // Another build was named (the arm64 prebuild under emulation): no hooks.
      `needs the testing build; MEMLOCK_NATIVE_BINDING names ${named}`
    : false;

// The sanitizer run names its own build (a testing build too, in build-cmake/).
if (!NO_TESTING_BUILD && !named) process.env['MEMLOCK_NATIVE_BINDING'] = TESTING_BUILD;
