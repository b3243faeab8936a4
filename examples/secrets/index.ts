// A secret's lifecycle with memlock: allocate memory that is locked (never
// swapped), left out of core dumps and wiped in forked children; fill it from
// the CSPRNG; use it in place; check the kernel's account; free it (zeroed,
// and every view of it detached).
//   npm run build && npx tsx examples/secrets/index.ts
import assert from 'node:assert/strict';
import { createHmac, randomFillSync } from 'node:crypto';
import { allocSecret, capabilities, kernelStatus, lockCounts, secretStats } from 'memlock';

const live = secretStats().live;

// 'best-effort': where locking is not allowed (a 64 KiB RLIMIT_MEMLOCK in a
// container), the secret is still undumpable and zeroed, `locked` says false,
// and one MemlockWarning says why. The default, 'required', throws instead.
const key = allocSecret(32, { lock: 'best-effort' });
randomFillSync(key.buffer);
console.log(
  `key: ${key.size} bytes, ${key.placement}, locked: ${key.locked}, ` +
    `out of core dumps: ${key.noCoreDump}, in a forked child: ${key.onFork}`,
);

if (key.locked) {
  // memlock's count on every page of the key, and the kernel's own figure.
  assert.ok(
    lockCounts(key.buffer).every((count) => count > 0),
    'every page of the key is counted',
  );
  if (capabilities().kernelAccount) {
    const { vmLckBytes } = kernelStatus();
    assert.ok(vmLckBytes > 0, 'the kernel counts locked memory (VmLck)');
    console.log(`VmLck: ${vmLckBytes / 1024} KiB locked in this process`);
  }
}

// Use the key in place. OpenSSL keeps its own copy while the Hmac lives:
// keep such objects short-lived, and never copy the key into a JS string.
const tag = createHmac('sha256', key.buffer).update('the message').digest('hex');
console.log(`HMAC-SHA256 of "the message": ${tag.slice(0, 16)}...`);

// A short-lived token: `using` frees (and zeroes) it at the end of the block.
{
  using token = allocSecret(16, { lock: 'best-effort' });
  randomFillSync(token.buffer);
  assert.equal(secretStats().live, live + 2, 'two secrets live');
}
assert.equal(secretStats().live, live + 1, 'the token is freed at the end of its block');

const view = key.buffer;
key.free();
assert.equal(key.freed, true);
assert.equal(view.length, 0, 'every view of a freed secret is detached');
assert.equal(secretStats().live, live, 'no secret left');
console.log('freed: zeroed, detached, unmapped with its slab');
