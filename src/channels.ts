// diagnostics_channel names memlock publishes on. Publishing is skipped when
// nobody subscribes, so it costs nothing on the hot path.
import diagnosticsChannel from 'node:diagnostics_channel';

/** Message on `memlock:sticky`: a lock made some pages' counts saturate. */
export interface StickyMessage {
  /** How many pages turned sticky with this lock. */
  pages: number;
  /** The view whose lock did it. */
  view: unknown;
}

export const stickyChannel = diagnosticsChannel.channel('memlock:sticky');

let warnedSticky = false;

export function reportSticky(message: StickyMessage): void {
  if (stickyChannel.hasSubscribers) stickyChannel.publish(message);
  if (warnedSticky) return;
  warnedSticky = true;
  process.emitWarning(
    `${message.pages} page(s) reached the maximum lock count (65535) and stay locked for the life of the process; ` +
      'this usually means locks are taken and never released',
    { type: 'MemlockWarning', code: 'MEMLOCK_STICKY' },
  );
}
