// Many counted locks in one call each way: lockMany() and the LockGroup
// handle. One crossing into native code for the whole batch instead of two
// per view, and one handle instead of one per view.
import { binding, SCRATCH, SYSCALL_NAMES } from '../binding';
import { lockChannel, publishMemberRelease, reportSticky, type LockMessage } from '../channels';
import { diagnosticsSettings } from '../diagnostics/diagnostics';
import { checkInternal, INTERNAL, invalidArgType, MemlockError } from '../errors';
import { errnoName, nativeFailure } from '../native-failure';
import { detachable, hold, letGo } from './guard';
import { callerStack, checkOptions, type CheckedOptions, type LockOptions } from './page-lock';
import { bind, heldView, keepForever, retain, unretain } from './retained';
import { bufferOf, nativeView, refuseResizable, type View } from './views';

// Three numbers a view, in and out (binding.lockMany); grown, never shrunk.
let io = new Float64Array(3 * 64);

/**
 * Counted locks on many views, taken together by lockMany() (all or none)
 * and released together. Each view has its own lock: locks() lists each,
 * unlock(view) releases one, and the group's release() skips it after.
 */
export class LockGroup implements Disposable {
  /** Views locked, a lock each. */
  readonly size: number;
  /** Pages covered, summed over the views (a page two views share is counted twice, as its count is). */
  readonly pages: number;
  readonly #ids: Float64Array;
  readonly #slots: Uint32Array;
  readonly #options: CheckedOptions;

  /** @internal Made by lockMany(); `new LockGroup()` throws ERR_ILLEGAL_CONSTRUCTOR. */
  constructor(token: typeof INTERNAL, ids: Float64Array, slots: Uint32Array, pages: number, options: CheckedOptions) {
    checkInternal(token, 'LockGroup', 'lockMany()');
    this.size = ids.length;
    this.pages = pages;
    this.#ids = ids;
    this.#slots = slots;
    this.#options = options;
  }

  /** Bytes covered, rounded out to whole pages, summed over the views. */
  get bytes(): number {
    return this.pages * binding.pageSize;
  }

  get onFault(): boolean {
    return this.#options.onFault;
  }

  get label(): string | undefined {
    return this.#options.label;
  }

  /** True once every lock of the group is released (by release(), dispose or unlock(view)). */
  get released(): boolean {
    for (let i = 0; i < this.size; i++) {
      if (binding.isHeld(this.#ids[i]!)) return false;
    }
    return true;
  }

  /**
   * Releases every lock of the group, in one call into native code.
   * Releasing twice is harmless. Should the kernel refuse a munlock, the
   * locks before it are released, it and the rest stay held, and this
   * throws; release() again retries them.
   */
  release(): void {
    const rc = this.size === 0 ? 0 : binding.releaseMany(this.#ids, this.size);
    const released = rc < 0 ? binding.scratch[SCRATCH.failedRange]! : this.size;
    for (let i = 0; i < released; i++) {
      const slot = this.#slots[i]!;
      const id = this.#ids[i]!;
      const view = heldView(slot, id);
      if (view === undefined) continue; // released before, by this group or unlock(view)
      unretain(slot, id);
      letGo(bufferOf(view));
      publishMemberRelease(this, view);
    }
    if (rc < 0) {
      const view = heldView(this.#slots[released]!, this.#ids[released]!);
      throw nativeFailure({
        operation: 'release',
        result: rc,
        syscall: 'munlock',
        bytes: view === undefined ? 0 : view.byteLength,
        detail: `(lock ${released + 1} of ${this.size} in the group; those before it are released, it and the rest are held)`,
      });
    }
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/**
 * Adds 1 to the lock count of every page each view covers, a lock per view,
 * in one call: all or nothing, so on failure no count changed. A view may
 * appear more than once (its pages are counted once per time).
 */
export function lockMany(views: readonly View[], options?: LockOptions): LockGroup {
  // Tested on a copy: Array.isArray() would narrow views itself to any[].
  const list: unknown = views;
  if (!Array.isArray(list)) throw invalidArgType('views', 'an instance of Array', views);
  const count = views.length;
  // Everything is read and checked before any lock is taken.
  const targets: ArrayBufferView[] = new Array<ArrayBufferView>(count);
  const buffers: ArrayBufferLike[] = new Array<ArrayBufferLike>(count);
  const shared: boolean[] = new Array<boolean>(count);
  for (let i = 0; i < count; i++) {
    const target = nativeView(views[i], 'views', i);
    const buffer = bufferOf(target);
    shared[i] = !detachable(buffer);
    if (!shared[i]) refuseResizable(buffer, `views[${i}]`, false);
    targets[i] = target;
    buffers[i] = buffer;
  }
  const checked = checkOptions(options);
  const { onFault, label } = checked;
  const stack = diagnosticsSettings.captureStacks ? callerStack(lockMany) : '';
  if (io.length < 3 * count) io = new Float64Array(3 * count);
  const slots = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    slots[i] = retain(targets[i]!);
    io[3 * i] = slots[i]!;
    io[3 * i + 1] = shared[i] ? 1 : 0;
  }
  const rc = count === 0 ? 0 : binding.lockMany(targets, count, onFault, io);
  if (rc < 0) {
    for (let i = 0; i < count; i++) unretain(slots[i]!, 0);
    const refused = binding.scratch[SCRATCH.failedRange]!;
    throw lockManyFailure(rc, views[refused], refused, count, io[3 * refused + 1]!, label);
  }
  const ids = new Float64Array(count);
  // Copied out of io for the lock messages: a subscriber may call lockMany() again.
  const viewPages = lockChannel.hasSubscribers ? new Array<number>(count) : undefined;
  let pages = 0;
  let sticky = 0;
  let firstSticky = 0;
  for (let i = 0; i < count; i++) {
    ids[i] = io[3 * i]!;
    pages += io[3 * i + 1]!;
    if (viewPages !== undefined) viewPages[i] = io[3 * i + 1]!;
    if (io[3 * i + 2]! > 0) {
      // Sticky pages stay locked for good, so their memory must stay too.
      keepForever(targets[i]!);
      hold(buffers[i]!, shared[i]);
      if (sticky === 0) firstSticky = i;
      sticky += io[3 * i + 2]!;
    }
  }
  let held = 0;
  try {
    for (; held < count; held++) hold(buffers[held]!, shared[held]);
    const group = new LockGroup(INTERNAL, ids, slots, pages, checked);
    for (let i = 0; i < count; i++) bind(slots[i]!, ids[i]!, group);
    if (label !== undefined || stack !== '') {
      for (let i = 0; i < count; i++) binding.annotate(ids[i]!, label, stack);
    }
    if (viewPages !== undefined) publishLocks(group, views, viewPages, checked);
    if (sticky > 0) reportSticky({ pages: sticky, view: views[firstSticky]! });
    return group;
  } catch (error) {
    // Whatever threw, the locks are undone: no count is left without a handle.
    binding.releaseMany(ids, count);
    for (let i = 0; i < count; i++) unretain(slots[i]!, ids[i]!);
    for (let i = 0; i < held; i++) letGo(buffers[i]!);
    throw error;
  }
}

function publishLocks(group: LockGroup, views: readonly View[], viewPages: number[], options: CheckedOptions): void {
  const { onFault, label } = options;
  for (let i = 0; i < views.length; i++) {
    const pages = viewPages[i]!;
    lockChannel.publish({
      lock: group,
      view: views[i]!,
      pages,
      bytes: pages * binding.pageSize,
      onFault,
      label,
    } satisfies LockMessage);
  }
}

function lockManyFailure(
  rc: number,
  view: View | undefined,
  index: number,
  count: number,
  pages: number,
  label: string | undefined,
): Error {
  const where = `(refused at views[${index}] of ${count}; nothing is left locked)`;
  if (errnoName(rc) === 'ENOMEM' && SYSCALL_NAMES[binding.scratch[SCRATCH.failedSyscall]!] === 'none') {
    // ENOMEM with no syscall made: the lock registry is full.
    return new MemlockError(`too many locks are held at once (16,777,216) ${where}`, { code: 'ENOMEM', errno: rc });
  }
  return nativeFailure({
    operation: 'lockMany',
    result: rc,
    syscall: 'mlock',
    bytes: pages * binding.pageSize,
    view,
    limit: {
      pages,
      newPages: pages,
      what: ` for views[${index}] of ${count}, after the ${index} before it`,
      label,
      remedy: 'nothing is left locked; release some or raise it with setLockablePageLimit()',
    },
    detail: where,
  });
}
