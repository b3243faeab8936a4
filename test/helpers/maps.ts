// Mappings of this process, by /proc/self/maps and smaps.
import { readFileSync } from 'node:fs';
import { readMappings } from './kernel';

export function mappingCount(): number {
  return readFileSync('/proc/self/maps', 'latin1').split('\n').filter(Boolean).length;
}

/**
 * Mappings that are excluded from core dumps and wiped on fork: secret
 * memory (nothing else in a Node process asks for both).
 */
export function secretMappingCount(): number {
  // mlock-backend secrets are wiped on fork (wf); secretmem ones are dropped (dc).
  return readMappings().filter(
    (m) => m.flags.includes('dd') && (m.flags.includes('wf') || m.path.startsWith('/secretmem')),
  ).length;
}
