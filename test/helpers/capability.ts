// Which of memlock's features the loaded backend has (capabilities()): the
// suite also runs against the portable backend (scripts/test-portable.sh),
// where tests of Linux-only features skip, saying which feature, and
// test/portable.test.ts checks those features are refused with
// ERR_MEMLOCK_UNSUPPORTED instead.
import { binding } from '../../src/binding';

type Feature = 'onFault' | 'lockAll' | 'kernelAccount' | 'hugePages' | 'dontDump' | 'wipeOnFork' | 'dropOnFork';

const WHAT: Record<Feature, string> = {
  onFault: 'mlock2(MLOCK_ONFAULT)',
  lockAll: 'whole-process locking',
  kernelAccount: "memlock's reading of /proc (verify, VmLck, the mapping cap)",
  hugePages: 'huge pages',
  dontDump: 'MADV_DONTDUMP',
  wipeOnFork: 'MADV_WIPEONFORK',
  dropOnFork: 'MADV_DONTFORK',
};

/** Why a test skips on this backend, or false: every feature it needs is there. */
export function needs(...features: Feature[]): string | false {
  const missing = features.filter((f) => !binding.platform[f]);
  if (missing.length === 0) return false;
  return `the ${binding.platform.backend} backend has no ${missing.map((f) => WHAT[f]).join(', ')}`;
}

/** Set when the suite runs against the portable backend. */
export const PORTABLE = binding.platform.backend !== 'linux';

/** Whether lock(view, { onFault: true }) works here: random workloads ask for it only then. */
export const CAN_ON_FAULT = binding.platform.onFault;
