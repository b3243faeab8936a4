// Runs a call that may throw and returns what a test asserts on: null, or
// the error's class, code, errno, syscall and message (JSON for a parent).
import { MemlockError } from '../../src/index';

export interface Failure {
  isMemlockError: boolean;
  code: string | undefined;
  errno: number | undefined;
  syscall: string | undefined;
  message: string;
}

export function attempt(run: () => unknown): Failure | null {
  try {
    run();
    return null;
  } catch (error) {
    const e = error as MemlockError;
    return {
      isMemlockError: e instanceof MemlockError,
      code: e.code,
      errno: e.errno,
      syscall: e.syscall,
      message: e.message,
    };
  }
}
