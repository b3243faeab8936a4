// test-tier: quick
// The paging monitor's events and the diagnostics channels are typed: the
// `@ts-expect-error` lines below are compiled by `npm run typecheck` (and
// by tsx here), so a misspelt event, channel or field that compiled would
// fail the type check ("unused @ts-expect-error"). At run time, a typed
// subscription gets the kernel-backed message and unsubscribes.
import diagnosticsChannel from 'node:diagnostics_channel';
import t from 'tap';
import * as memlock from '../src/index';
import type {
  MemlockChannelName,
  MemlockChannels,
  PagingMonitor,
  PagingMonitorEvents,
  PressureEvent,
  StallReport,
} from '../src/index';

// Compiled, never called: the checks are the compiler's.
export function typeChecks(monitor: PagingMonitor): void {
  monitor.on('stall', (report) => {
    const verdict: StallReport['verdict'] = report.verdict;
    const delay: number = report.delayMs;
    void [verdict, delay];
    // @ts-expect-error a misspelt field of a stall report
    void report.delayMS;
  });
  monitor.once('pressure', (event: PressureEvent) => void event.stallMs);
  monitor.on('psi-unavailable', (event) => void event.reason.length);
  // @ts-expect-error a misspelt event name
  monitor.on('stalls', () => {});
  // @ts-expect-error a listener that expects another event's payload
  monitor.on('pressure', (report: StallReport) => void report.verdict);
  // @ts-expect-error an event emitted with the wrong payload
  monitor.emit('stall', { verdict: 'paging' });

  const names: MemlockChannelName[] = ['memlock:lock', 'memlock:stall', 'memlock:pressure'];
  void names;
  // @ts-expect-error not one of memlock's channels
  const wrong: MemlockChannelName = 'memlock:locks';
  void wrong;
  memlock.subscribeChannel('memlock:stall', (report) => void report.gcMs);
  memlock.subscribeChannel('memlock:limit', (message) => void message.limitPages);
  // @ts-expect-error a misspelt channel name
  memlock.subscribeChannel('memlock:stal', () => {});
  // @ts-expect-error a field the channel's message does not have
  memlock.subscribeChannel('memlock:error', (message) => void message.syscall);
}

// Each channel's message type is the monitor event's payload where both exist.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const stallSame: Same<MemlockChannels['memlock:stall'], PagingMonitorEvents['stall'][0]> = true;
const pressureSame: Same<MemlockChannels['memlock:pressure'], PagingMonitorEvents['pressure'][0]> = true;

t.test('the type checks are in this file (and so compiled by npm run typecheck)', (t) => {
  t.equal(typeof typeChecks, 'function');
  t.ok(stallSame && pressureSame);
  t.end();
});

t.test('subscribeChannel: typed messages, and the function it returns unsubscribes', (t) => {
  const seen: MemlockChannels['memlock:lock'][] = [];
  const unsubscribe = memlock.subscribeChannel('memlock:lock', (message) => seen.push(message));
  const buffer = Buffer.alloc(3 * memlock.pageSize);
  const lock = memlock.lock(buffer, { label: 'typed' });
  t.teardown(() => lock.release());
  t.equal(seen.length, 1, 'one message for one lock');
  t.equal(seen[0]?.lock, lock, 'the message carries the PageLock');
  t.ok((seen[0]?.pages ?? 0) >= 3, 'the pages it covers');
  t.equal(seen[0]?.bytes, (seen[0]?.pages ?? 0) * memlock.pageSize, 'bytes: the pages it covers');
  t.equal(seen[0]?.label, 'typed');
  unsubscribe();
  t.equal(diagnosticsChannel.channel('memlock:lock').hasSubscribers, false, 'no subscriber left');
  memlock.lock(buffer).release();
  t.equal(seen.length, 1, 'nothing after unsubscribing');
  t.end();
});
