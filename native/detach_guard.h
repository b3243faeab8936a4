// Keeps JavaScript from detaching an ArrayBuffer whose memory memlock counts.
//
// ArrayBuffer.prototype.transfer(), a postMessage transfer list and
// structuredClone({ transfer }) all detach the buffer and hand its memory to
// a new owner that may free it while the pages are still counted (or, for a
// secret, after free() could no longer wipe it). V8 refuses every detach that
// does not present the buffer's detach key, so memlock sets one while it holds
// a lock on the buffer, and uses it itself to detach a secret on free().
//
// Node-API has no call for detach keys; V8 exports them from every official
// node binary (20, 22, 24), so they are looked up at run time: where they are
// missing, available() is false and memlock refuses what it cannot protect.
#pragma once

#include <node_api.h>

namespace memlock {
namespace detach_guard {

bool available();
// Sets (key) or clears (undefined) `arraybuffer`'s detach key. Returns false
// if the guard is not available or JavaScript cannot detach the buffer anyway.
bool set_key(napi_env env, napi_value arraybuffer, napi_value key);
// Detaches `arraybuffer` presenting `key`. Returns false if V8 refused.
bool detach(napi_env env, napi_value arraybuffer, napi_value key);


}  // namespace detach_guard
}  // namespace memlock
