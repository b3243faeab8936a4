// Small pieces the process-wide fixtures share.
import { binding } from '../../src/binding';

/** A deterministic random integer below n, from a seed (a linear congruential generator). */
export function seededRandom(seed: number): (n: number) => number {
  let state = seed;
  return (n: number) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state % n;
  };
}

/**
 * What the margin below vm.max_map_count is for: grows the heap by 256 MiB of
 * arrays and a million objects, drops them and collects (run with
 * --expose-gc). Returns the mapping count at the peak.
 */
export function growHeapAndCollect(): number {
  const arrays: number[][] = [];
  for (let i = 0; i < 32; i += 1) arrays.push(new Array<number>(1 << 20).fill(i));
  const objects = Array.from({ length: 1_000_000 }, (_, i) => ({ i, s: `object ${i}` }));
  const grewTo = binding.mappingCount();
  arrays.length = 0;
  objects.length = 0;
  (globalThis as { gc?: () => void }).gc!();
  return grewTo;
}
