#!/usr/bin/env node
/*
 * memlock CLI: `memlock doctor` checks that this environment can lock memory;
 * `memlock status` reports any process's locked memory from /proc.
 *
 * Exit codes: 0 ok; 1 a doctor check failed, or the watched process went
 * away; 2 bad usage (one line on stderr, then the usage line); 3 status's
 * report is partial: this user may not read some of the process's /proc
 * files (smaps, maps: another user's process), what it could read is shown.
 *
 * --json output is stable: fields may be added, never renamed or removed.
 * Byte counts are numbers of bytes; an unlimited RLIMIT_MEMLOCK is null.
 * The shapes are DoctorReport (./doctor.ts) and StatusReport (./status.ts),
 * documented field by field there; README shows them to users.
 */
import type * as Capabilities from '../capabilities';
import type * as Doctor from './doctor';
import { UsageError, USAGE } from './format';
import type * as Status from './status';

const HELP = `memlock: check and inspect locked memory (mlock)

${USAGE.doctor}
       memlock status [--pid N] [--json] [--top N] [--watch SECONDS [--count N]]
       memlock help | --version

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
2 bad usage, 3 status could read only part of the process's account (another
user's process: VmLck and the limits are shown, smaps and maps are not).
`;

// Both commands read the kernel's account from /proc: Linux's.
function linuxOnly(command: string): void {
  const { capabilities, unsupported } = require('../capabilities') as typeof Capabilities;
  if (!capabilities().kernelAccount) {
    throw unsupported(
      command,
      "it reads the kernel's account from /proc; in code, capabilities() and stats() say what memlock holds",
    );
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    case '--version':
    case '-v':
      process.stdout.write(`${(require('../../package.json') as { version: string }).version}\n`);
      return 0;
    // Loaded on demand, so that help and usage errors work even if the addon does not load.
    case 'doctor':
      linuxOnly('memlock doctor');
      return (require('./doctor') as typeof Doctor).doctorCommand(rest);
    case 'status':
      linuxOnly('memlock status');
      return (require('./status') as typeof Status).statusCommand(rest);
    case undefined:
      throw new UsageError('missing command');
    default:
      throw new UsageError(
        command.startsWith('-')
          ? `unknown option '${command}' (the command comes first)`
          : `unknown command '${command}'`,
      );
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
