// What one doctor check reports: the shape doctor.ts and container.ts both
// build (kept apart so that neither imports the other).
export type CheckStatus = 'pass' | 'warn' | 'fail';
export type CheckId =
  | 'rlimit'
  | 'capability'
  | 'swap'
  | 'max-map-count'
  | 'test-lock'
  | 'on-fault'
  | 'madvise'
  | 'kernel'
  | 'cgroup-limit'
  | 'cgroup-protection'
  | 'cap-effective'
  | 'psi'
  | 'hypervisor'
  | 'huge-pages'
  | 'secret-backend'
  | 'hardening'
  | 'cgroup-events'
  | 'container-swap'
  | 'container-memory'
  | 'user-namespace'
  | 'seccomp'
  // Real-time readiness (realtime.ts): DoctorReport.realtime.
  | 'compact-unevictable'
  | 'numa-balancing'
  | 'thp'
  | 'ksm'
  | 'swappiness'
  | 'rtprio'
  | 'cpu-governor';

export interface CheckError {
  code: string;
  message: string;
  syscall: string | null;
  errno: number | null;
}

export interface Check {
  id: CheckId;
  title: string;
  status: CheckStatus;
  /** One line: what was found. */
  finding: string;
  /** What to do, one fix per entry; empty when the check passed. */
  remedy: string[];
  /** The error behind a failed or skipped check, if there was one. */
  error: CheckError | null;
}
