// sodium-native 5.x ships no type declarations; the calls the secrets
// benchmarks make, as its index.js defines them.
declare module 'sodium-native' {
  /** Secure memory from libsodium's sodium_malloc; `secure` marks it for sodium_free. */
  export function sodium_malloc(size: number): Buffer & { secure: boolean };
  /**
   * Detaches the Buffer; libsodium's sodium_free (munmap) runs later, from a
   * Node immediate, once the detached backing store is released.
   */
  export function sodium_free(buffer: Buffer): void;
  /** mprotect of a sodium_malloc buffer's pages: PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE. */
  export function sodium_mprotect_noaccess(buffer: Buffer): void;
  export function sodium_mprotect_readonly(buffer: Buffer): void;
  export function sodium_mprotect_readwrite(buffer: Buffer): void;
}
