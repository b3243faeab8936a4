// Secret memory: the pool's allocations handed to JavaScript as external
// Buffers, freed by free() or by their finalizer.
#include <cerrno>
#include <cstdint>

#include "binding/cage_buffers.h"
#include "binding/families.h"
#include "core/cage_memory.h"
#include "core/secret_pool.h"
#include "platform/platform.h"

namespace memlock {
namespace {

constexpr double kMaxSecretSize = 1 << 30;

// Runs on the JS thread once a secret's Buffer is garbage-collected (or
// detached by free, in which case the secret is gone and this does nothing).
void FinalizeSecret(napi_env /*env*/, void* data, void* serial) {
  SecretPool::instance().free_if_current(reinterpret_cast<uintptr_t>(data),
                                         static_cast<uint64_t>(reinterpret_cast<uintptr_t>(serial)));
}

// allocSecret under V8's sandbox: whole pages of a V8 Buffer, locked and
// advised in place. No secretmem (its memory cannot be a V8 Buffer's), no
// guard pages (V8's allocation has none), one mapping shared with V8.
Napi::Value AllocSecretInV8Heap(Napi::Env env, EnvState* state, const SecretRequest& request) {
  double* scratch = state->scratch;
  scratch[kScratchLocked] = 0;
  scratch[kScratchLockError] = 0;
  scratch[kScratchFailedSyscall] = 0;
  scratch[kScratchLockPages] = 0;
  scratch[kScratchSerial] = 0;
  scratch[kScratchBackend] = static_cast<double>(static_cast<int>(SecretBackend::kV8Heap));
  scratch[kScratchFallbackError] = 0;
  scratch[kScratchFallbackSyscall] = 0;
  if (request.backend == BackendChoice::kSecretMem)
    return Napi::Number::New(env, static_cast<double>(kSecretMemUnavailable));
  CageResult result;
  napi_value value = nullptr;
  NAPI_THROW_IF_FAILED(env,
                       AllocCageBuffer(env, state,
                                       CageBufferRequest{request.size, request.require_lock, false, true,
                                                         "memlock: secret in V8's memory"},
                                       &result, &value),
                       Napi::Value());
  scratch[kScratchLocked] = result.locked ? 1 : 0;
  scratch[kScratchLockError] = static_cast<double>(result.lock_error);
  scratch[kScratchFailedSyscall] = static_cast<double>(static_cast<int>(result.failed));
  if (result.error == kMapCountExceeded || result.lock_error == kMapCountExceeded) {
    ScratchMappings(scratch, result.mappings);
  }
  scratch[kScratchLockPages] = static_cast<double>(result.lock_pages);
  scratch[kScratchSerial] = static_cast<double>(result.serial);
  if (value == nullptr) return Napi::Number::New(env, static_cast<double>(result.error));
  return Napi::Value(env, value);
}

// allocSecret(size, flags: kSecretGuarded | kSecretRequireLock | kSecretDropOnFork |
//   kSecretBackendSecretMem | kSecretBackendMlock)
//   -> Buffer | -errno | kLimitExceeded | kMapCountExceeded | kSecretMemUnavailable;
//   scratch = [locked, lock error, failed syscall, mappings, cap, margin, lock pages, serial,
//   backend, fallback error, fallback syscall]
Napi::Value AllocSecret(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double size = info[0].As<Napi::Number>().DoubleValue();
  if (!(size >= 1 && size <= kMaxSecretSize)) throw Napi::RangeError::New(env, "memlock: secret size out of range");
  uint32_t flags = info[1].As<Napi::Number>().Uint32Value();
  EnvState* state = StateOf(env);
  SecretRequest request{static_cast<size_t>(size),
                        (flags & kSecretGuarded) != 0,
                        (flags & kSecretRequireLock) != 0,
                        (flags & kSecretDropOnFork) != 0 ? ForkMode::kDrop : ForkMode::kWipe,
                        state,
                        (flags & kSecretBackendSecretMem) != 0 ? BackendChoice::kSecretMem
                        : (flags & kSecretBackendMlock) != 0   ? BackendChoice::kMlock
                                                               : BackendChoice::kAuto};
  if (Caged()) return AllocSecretInV8Heap(env, state, request);
  SecretPool& pool = SecretPool::instance();
  SecretResult result = pool.allocate(request);
  state->scratch[kScratchLocked] = result.locked ? 1 : 0;
  state->scratch[kScratchLockError] = static_cast<double>(result.lock_error);
  state->scratch[kScratchFailedSyscall] = static_cast<double>(static_cast<int>(result.failed));
  if (result.error == kMapCountExceeded || result.lock_error == kMapCountExceeded) {
    ScratchMappings(state->scratch, result.mappings);
  }
  state->scratch[kScratchLockPages] = static_cast<double>(result.lock_pages);
  state->scratch[kScratchSerial] = static_cast<double>(result.serial);
  state->scratch[kScratchBackend] = static_cast<double>(static_cast<int>(result.backend));
  state->scratch[kScratchFallbackError] = static_cast<double>(result.fallback_error);
  state->scratch[kScratchFallbackSyscall] = static_cast<double>(static_cast<int>(result.fallback_syscall));
  if (result.addr == 0) return Napi::Number::New(env, static_cast<double>(result.error));
  void* data = reinterpret_cast<void*>(result.addr);
  void* serial = reinterpret_cast<void*>(static_cast<uintptr_t>(result.serial));
  napi_value value = nullptr;
  napi_status status = WrapOwnedMemory(env, data, request.size, GuardedFinalize<FinalizeSecret>, serial, &value);
  if (status != napi_ok) {
    pool.free_if_current(result.addr, result.serial);
    // V8's sandbox: from now on every secret is in V8's memory.
    if (NoteSandboxRefusal(status)) return AllocSecretInV8Heap(env, state, request);
    NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  }
  return Napi::Value(env, value);
}

// freeSecret(buffer) -> 0 freed | 2 freed, a slab is empty (trimSecrets) | 1 not a live secret
Napi::Value FreeSecret(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // V8's memory: zeroed and unlocked, then detached.
  if (FreeCageBuffer(info)) return Napi::Number::New(env, 0);
  // Detach first: if that failed, a view could outlive the wipe.
  void* data = DetachOwnedMemory(info);
  if (data == nullptr) return Napi::Number::New(env, 1);  // detached: freed already
  bool trim = false;
  bool freed = SecretPool::instance().free_owned(reinterpret_cast<uintptr_t>(data), StateOf(env), &trim);
  return Napi::Number::New(env, !freed ? 1 : trim ? 2 : 0);
}

// wipeMovedSecret(address, serial) -> 0 wiped | 1 freed already: free() of a
// secret whose memory node or another addon moved out of its Buffer.
Napi::Value WipeMovedSecret(const Napi::CallbackInfo& info) {
  double addr = info[0].As<Napi::Number>().DoubleValue();
  double serial = info[1].As<Napi::Number>().DoubleValue();
  bool wiped = SecretPool::instance().wipe_if_current(static_cast<uintptr_t>(addr), static_cast<uint64_t>(serial));
  return Napi::Number::New(info.Env(), wiped ? 0 : 1);
}

// protectSecret(buffer, access: kAccessNone | kAccessRead | kAccessReadWrite)
//   -> 0 | -errno | kProtectShared (a pooled secret) | -ENOENT (not a live secret of this thread)
Napi::Value ProtectSecret(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uintptr_t addr = reinterpret_cast<uintptr_t>(info[0].As<Napi::Buffer<uint8_t>>().Data());
  int access = static_cast<int>(info[1].As<Napi::Number>().Int32Value());
  if (access != kAccessNone && access != kAccessRead && access != kAccessReadWrite) {
    throw Napi::RangeError::New(env, "memlock: protect access out of range");
  }
  if (Caged()) {
    int rc = CageMemory::instance().protect(addr, StateOf(env), access);
    if (rc != -ENOENT) return Napi::Number::New(env, rc);
  }
  return Napi::Number::New(env, SecretPool::instance().protect(addr, StateOf(env), access));
}

// probeSecretMemory() -> 0 | -errno, the refused Syscall in scratch[kScratchFallbackSyscall]:
// whether 'auto' would use secretmem now. A refusal the pool already met
// is returned as is; otherwise one page is mapped and unmapped.
Napi::Value ProbeSecretMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Syscall failed = Syscall::kNone;
  int64_t rc = SecretPool::instance().secretmem_refused(&failed);
  if (rc == 0) {
    const size_t ps = platform::page_size();
    int64_t mapped = platform::map_secret_memory(ps, 0, &failed);
    if (mapped >= 0) {
      platform::unmap_memory(static_cast<uintptr_t>(mapped), ps);
      failed = Syscall::kNone;
    }
    rc = mapped < 0 ? mapped : 0;
  }
  StateOf(env)->scratch[kScratchFallbackSyscall] = static_cast<double>(static_cast<int>(failed));
  return Napi::Number::New(env, static_cast<double>(rc));
}

// hardenProcess(flags: kHardenNoCore | kHardenNotDumpable | kHardenClearPtracer)
//   -> [core, dumpable, ptracer, dumpable now]: each 0, -errno, or 1 (not asked);
//   the last PR_GET_DUMPABLE after them (or -errno). hardenProcess(0) only reads.
Napi::Value HardenProcess(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t flags = info[0].As<Napi::Number>().Uint32Value();
  Napi::Array out = Napi::Array::New(env, 4);
  out.Set(0u, Napi::Number::New(env, (flags & kHardenNoCore) ? platform::set_core_limit_zero() : 1));
  out.Set(1u, Napi::Number::New(env, (flags & kHardenNotDumpable) ? platform::set_not_dumpable() : 1));
  out.Set(2u, Napi::Number::New(env, (flags & kHardenClearPtracer) ? platform::clear_ptracer() : 1));
  out.Set(3u, Napi::Number::New(env, platform::dumpable()));
  return out;
}

// v8Sandbox() -> 1 if V8 refused external buffers (its sandbox: secrets and
// pinned buffers are in V8's memory from then on), else 0.
Napi::Value V8Sandbox(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), Caged() ? 1 : 0); }

Napi::Value TrimSecrets(const Napi::CallbackInfo& info) {
  SecretPool::instance().trim();
  return info.Env().Undefined();
}

Napi::Value GetSecretStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SecretStats s = SecretPool::instance().stats();
  Napi::Object obj = Napi::Object::New(env);
  auto set = [&](const char* name, uint64_t value) {
    obj.Set(name, Napi::Number::New(env, static_cast<double>(value)));
  };
  set("live", s.live);
  set("slabs", s.slabs);
  set("dedicated", s.dedicated);
  set("mappedBytes", s.mapped_bytes);
  set("unlockedBytes", s.unlocked_bytes);
  set("secretmemLive", s.secretmem_live);
  set("secretmemBytes", s.secretmem_bytes);
  // Secrets in V8's memory (its sandbox refused external buffers) are not
  // the pool's: the adoptions count them.
  CageStats cage = CageMemory::instance().stats();
  set("v8HeapLive", cage.secrets);
  set("v8HeapBytes", cage.secret_bytes);
  return obj;
}

}  // namespace

void register_secrets(Napi::Env env, Napi::Object exports) {
  exports.Set("allocSecret", Napi::Function::New(env, AllocSecret, "allocSecret"));
  exports.Set("freeSecret", Napi::Function::New(env, FreeSecret, "freeSecret"));
  exports.Set("wipeMovedSecret", Napi::Function::New(env, WipeMovedSecret, "wipeMovedSecret"));
  exports.Set("trimSecrets", Napi::Function::New(env, TrimSecrets, "trimSecrets"));
  exports.Set("secretStats", Napi::Function::New(env, GetSecretStats, "secretStats"));
  exports.Set("protectSecret", Napi::Function::New(env, ProtectSecret, "protectSecret"));
  exports.Set("hardenProcess", Napi::Function::New(env, HardenProcess, "hardenProcess"));
  exports.Set("v8Sandbox", Napi::Function::New(env, V8Sandbox, "v8Sandbox"));
  exports.Set("probeSecretMemory", Napi::Function::New(env, ProbeSecretMemory, "probeSecretMemory"));
}

}  // namespace memlock
