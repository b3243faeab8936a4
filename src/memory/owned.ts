// What secrets and pinned buffers share: memory memlock mapped itself,
// handed to JavaScript as one Buffer, freed once (free(), `using`, or the
// Buffer's finalizer in native code), and survived when something moved it
// out of that Buffer (a byte stream, a captured transfer(), another addon
// detaching it: src/locks/guard.ts).
import { hold } from '../locks/guard';

export abstract class OwnedMemory implements Disposable {
  readonly #buffer: Buffer;
  #freed = false;

  protected constructor(buffer: Buffer) {
    // This memory never moves while memlock has it: see src/locks/guard.ts.
    hold(buffer.buffer);
    this.#buffer = buffer;
  }

  /** The memory. After free() this Buffer is detached (zero length). */
  get buffer(): Buffer {
    return this.#buffer;
  }

  /** True once free() was called. */
  get freed(): boolean {
    return this.#freed;
  }

  /**
   * Frees the memory and detaches the Buffer. Freeing twice is harmless.
   * If the memory was moved out of this Buffer, it is handed to `freeMoved`
   * instead: it cannot be unmapped under the buffer that has it now.
   */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    if (this.#buffer.length === 0) this.freeMoved();
    else this.freeMapped(this.#buffer);
  }

  [Symbol.dispose](): void {
    this.free();
  }

  /** Native free of memory still in its own Buffer (it detaches the Buffer first). */
  protected abstract freeMapped(buffer: Buffer): void;
  /** What to do once the memory has moved out of its Buffer. */
  protected abstract freeMoved(): void;
}
