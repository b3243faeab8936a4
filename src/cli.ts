#!/usr/bin/env node
/*
 * memlock CLI: `memlock doctor` checks that this environment can lock memory;
 * `memlock status` reports any process's locked memory from /proc.
 *
 * Exit codes: 0 ok; 1 a doctor check failed, or the watched process went
 * away; 2 bad usage (one line on stderr, then the usage line).
 *
 * --json output is stable: fields may be added, never renamed or removed.
 * Byte counts are numbers of bytes; an unlimited RLIMIT_MEMLOCK is null.
 *
 * memlock doctor --json (one object, exit code 0 when ok, else 1):
 * {
 *   "command": "doctor",
 *   "ok": boolean,                   // no check has status "fail"
 *   "pid": number,                   // the CLI's own pid: the process checked
 *   "node": string,                  // process.version
 *   "kernel": string,                // os.release()
 *   "sizeBytes": number,             // --size (MiB, default 64) in bytes
 *   "rlimitMemlock": { "soft": number | null, "hard": number | null },
 *   "capIpcLock": boolean,
 *   "checks": [                      // always these, in this order: rlimit,
 *     {                              //   capability, swap, max-map-count, test-lock,
 *       "id": string,                //   on-fault, madvise, kernel, cgroup-limit,
 *                                    //   cgroup-protection, cap-effective, psi, hypervisor
 *       "title": string,             // e.g. "RLIMIT_MEMLOCK"
 *       "status": "pass" | "warn" | "fail",
 *       "finding": string,           // one line
 *       "remedy": string[],          // one fix per entry; [] when status is "pass"
 *       "error": null | { "code": string, "message": string,
 *                         "syscall": string | null, "errno": number | null }
 *     }
 *   ],
 *   "summary": { "pass": number, "warn": number, "fail": number }
 * }
 *
 * memlock status --json (one object; with --watch, one per line, NDJSON):
 * {
 *   "command": "status",
 *   "pid": number,
 *   "name": string,                  // Name: of /proc/<pid>/status
 *   "time": string,                  // ISO 8601, when read
 *   "vmLckBytes": number,            // VmLck: locked mappings, resident or not
 *   "vmPinBytes": number,            // VmPin: pinned by drivers, not by mlock
 *   "smapsLockedBytes": number,      // sum of smaps Locked: (resident and locked)
 *   "rlimitMemlock": { "soft": number | null, "hard": number | null },
 *   "capIpcLock": boolean,
 *   "mappings": number,              // lines of /proc/<pid>/maps
 *   "maxMappings": number,           // vm.max_map_count
 *   "lockedMappings": number,        // mappings with Locked: > 0 or VmFlags lo
 *   "topMappings": [                 // the --top N (default 10) of those, most locked bytes first
 *     {
 *       "start": string, "end": string,  // hex without 0x, as in /proc/<pid>/maps
 *       "perms": string,             // e.g. "rw-p"
 *       "path": string,              // "" for anonymous memory
 *       "sizeBytes": number,
 *       "lockedBytes": number,       // smaps Locked:
 *       "vmLocked": boolean,         // VmFlags lo
 *       "onFault": boolean           // VmFlags lf (MLOCK_ONFAULT)
 *     }
 *   ],
 *   "vmSwapBytes": number,           // VmSwap: anonymous memory in swap
 *   "pressure": {                    // memory PSI of its cgroup (v2), else the system's
 *     "source": "cgroup" | "system" | "unavailable",
 *     "path": string | null, "reason": string | null,   // reason: why unavailable
 *     "some": null | { "avg10": number, "avg60": number, "avg300": number, "totalUs": number },
 *     "full": null | { ... the same }                    // avg*: percent of wall time
 *   },
 *   "faults": { "major": number, "minor": number },      // since the process started
 *   "rates": null | {                // with --watch, from the second report on: over the interval
 *     "seconds": number, "majorFaultsPerSecond": number, "minorFaultsPerSecond": number,
 *     "someStallMsPerSecond": number | null, "fullStallMsPerSecond": number | null
 *   }
 * }
 */
import type * as Doctor from './cli-doctor';
import { UsageError, USAGE } from './cli-format';
import type * as Status from './cli-status';

const HELP = `memlock: check and inspect locked memory (mlock)

${USAGE.doctor}
       memlock status [--pid N] [--json] [--top N] [--watch SECONDS [--count N]]
       memlock help

doctor   Checks whether this process may lock memory the way memlock does:
         RLIMIT_MEMLOCK, CAP_IPC_LOCK, swap, vm.max_map_count, a test lock of
         --size MiB (default 64), mlock2(MLOCK_ONFAULT), MADV_DONTDUMP and
         MADV_WIPEONFORK, the kernel version; and in containers: the memory
         cgroup's limit against --size, memory.min/low, whether CAP_IPC_LOCK
         is really effective, PSI and its triggers, and the hypervisor. Run it
         as the service runs (same user, systemd unit or container). Exit 0
         when no check failed.
status   The kernel's account of a process's locked memory, from /proc: VmLck,
         VmPin, smaps Locked:, RLIMIT_MEMLOCK, CAP_IPC_LOCK, mappings, and the
         mappings holding the most locked memory; its VmSwap, the memory
         pressure (PSI) of its cgroup or the system, and its page faults
         (with --watch, fault and stall rates over each interval).
           --pid N          the process (default: this CLI itself)
           --top N          how many mappings to list (default 10)
           --watch SECONDS  repeat until interrupted; --count N stops after N
--json   machine-readable output (with --watch: one JSON object per line)

Exit codes: 0 ok, 1 a doctor check failed (or the watched process exited),
2 bad usage.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    // Loaded on demand, so that help and usage errors work even if the addon does not load.
    case 'doctor':
      return (require('./cli-doctor') as typeof Doctor).doctorCommand(rest);
    case 'status':
      return (require('./cli-status') as typeof Status).statusCommand(rest);
    case undefined:
      throw new UsageError('missing command');
    default:
      throw new UsageError(command.startsWith('-') ? `unknown option '${command}' (the command comes first)` : `unknown command '${command}'`);
  }
}

// `memlock status --watch 1 | head` closes the pipe: stop quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`memlock: ${error.message}\n${error.usage}\n`);
      process.exitCode = 2;
    } else {
      // Not bad input: still one line, as the CLI's output is read by people and scripts.
      process.stderr.write(`memlock: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
