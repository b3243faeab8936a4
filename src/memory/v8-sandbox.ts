// V8's sandbox (Electron 21+): V8 refuses memory from outside its cage
// (napi_no_external_buffers_allowed), so memlock cannot hand out memory it
// mapped itself. Secrets and pinned buffers are then whole pages of a Buffer
// V8 allocates, locked and advised in place (native/binding/cage_buffers.h);
// this says so, once, and what that memory lacks.
import { binding } from '../binding';
import { v8SandboxChannel, type V8SandboxLoss, type V8SandboxMessage } from '../channels';

export type { V8SandboxLoss } from '../channels';

/** Everything memory in V8's heap lacks, process-wide. */
export const V8_SANDBOX_LOSSES: readonly V8SandboxLoss[] = Object.freeze([
  'secretmem',
  'guard-pages',
  'drop-on-fork',
  'huge-pages',
]);

/** Whether V8 has refused external buffers in this process (decided by the first refusal). */
export function v8SandboxActive(): boolean {
  return binding.v8Sandbox() === 1;
}

let reported = false;

/** Publishes on memlock:v8-sandbox the first time memory is made in V8's heap. */
export function reportV8Sandbox(): void {
  if (reported) return;
  reported = true;
  if (v8SandboxChannel.hasSubscribers) {
    v8SandboxChannel.publish({
      status: 'napi_no_external_buffers_allowed',
      backend: 'v8-heap',
      lost: V8_SANDBOX_LOSSES,
    } satisfies V8SandboxMessage);
  }
}

/** What a secret in V8's heap lacks of what it asked for. */
export function secretLosses(
  placement: 'pooled' | 'guarded',
  onFork: 'wipe' | 'drop',
  backend: 'auto' | 'mlock',
): readonly V8SandboxLoss[] {
  const lost: V8SandboxLoss[] = [];
  if (backend === 'auto') lost.push('secretmem');
  if (placement === 'guarded') lost.push('guard-pages');
  if (onFork === 'drop') lost.push('drop-on-fork');
  return Object.freeze(lost);
}

/** What a pinned buffer in V8's heap lacks of what it asked for. */
export function pinnedLosses(hugePages: boolean, onFork: 'drop' | 'keep'): readonly V8SandboxLoss[] {
  const lost: V8SandboxLoss[] = [];
  if (hugePages) lost.push('huge-pages');
  if (onFork === 'drop') lost.push('drop-on-fork');
  return Object.freeze(lost);
}
