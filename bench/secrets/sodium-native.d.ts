// sodium-native 5.x ships no type declarations; the two calls the secrets
// benchmark makes, as its index.js defines them.
declare module 'sodium-native' {
  /** Secure memory from libsodium's sodium_malloc; `secure` marks it for sodium_free. */
  export function sodium_malloc(size: number): Buffer & { secure: boolean };
  /**
   * Detaches the Buffer; libsodium's sodium_free (munmap) runs later, from a
   * Node immediate, once the detached backing store is released.
   */
  export function sodium_free(buffer: Buffer): void;
}
