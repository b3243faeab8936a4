// The paging monitor where its Linux sources are missing (PSI, per-thread
// faults, schedstat): the same exports, each answering "not here", so the
// addon offers one surface everywhere and src/paging/paging-monitor.ts says
// ERR_MEMLOCK_UNSUPPORTED before it calls any of them.
#include <errno.h>

#include <cmath>

#include "binding/families.h"

namespace memlock {
namespace {

Napi::Value PagingWatch(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), -ENOSYS); }

Napi::Value CgroupEventfd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), -ENOSYS); }

Napi::Value PagingUnwatch(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }

// Every slot NaN: not available here.
Napi::Value PagingSample(const Napi::CallbackInfo& info) {
  if (info[0].IsTypedArray()) {
    Napi::Float64Array out = info[0].As<Napi::Float64Array>();
    for (size_t i = 0; i < out.ElementLength(); ++i) out[i] = NAN;
  }
  return info.Env().Undefined();
}

}  // namespace

void register_paging(Napi::Env env, Napi::Object exports) {
  exports.Set("cgroupEventfd", Napi::Function::New(env, CgroupEventfd, "cgroupEventfd"));
  exports.Set("pagingWatch", Napi::Function::New(env, PagingWatch, "pagingWatch"));
  exports.Set("pagingUnwatch", Napi::Function::New(env, PagingUnwatch, "pagingUnwatch"));
  exports.Set("pagingSample", Napi::Function::New(env, PagingSample, "pagingSample"));
}

}  // namespace memlock
