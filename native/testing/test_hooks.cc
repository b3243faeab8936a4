#include "testing/test_hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "binding/napi_views.h"
#include "core/locker.h"
#include "core/secret_pool.h"
#include "platform/fault_injection.h"
#include "platform/madvise_hook.h"
#include "platform/platform.h"

namespace memlock {
namespace {

// Runs `child` in a fork()ed child and returns its exit status (or -errno).
// The child calls _exit(child(fd)) where fd is the write end of a pipe whose
// bytes end up in out[0..*out_len).
int fork_and_collect(int (*child)(int fd), char* out, size_t* out_len) {
  int fds[2];
  if (pipe(fds) != 0) return -errno;
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return -err;
  }
  if (pid == 0) {
    close(fds[0]);
    _exit(child(fds[1]));
  }
  close(fds[1]);
  size_t used = 0;
  while (used < *out_len) {
    ssize_t n = read(fds[0], out + used, *out_len - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += static_cast<size_t>(n);
  }
  close(fds[0]);
  *out_len = used;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -errno;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// rawMlock(view) / rawMunlock(view) -> 0 | -errno: the bare syscalls on the
// covered pages, bypassing the table. For benchmarks (the same process's
// syscall cost) and tests (changing kernel state behind memlock's back).
template <int (*syscall)(uintptr_t, size_t)>
Napi::Value RawRange(const Napi::CallbackInfo& info) {
  Bytes bytes = ViewBytes(info[0]);
  size_t ps = platform::page_size();
  uintptr_t start = bytes.addr / ps * ps;
  size_t len = (bytes.addr + bytes.len + ps - 1) / ps * ps - start;
  return Napi::Number::New(info.Env(), syscall(start, len));
}

// In a child made by fork(), reports the child's view of the table and the
// kernel's VmLck, as "lockedPages heldLocks vmLckKb".
int ReportFromForkedChild(int fd) {
  Stats s = Locker::instance().stats();
  long vmlck_kb = -1;
  char status[8192];
  int sfd = open("/proc/self/status", O_RDONLY);
  if (sfd >= 0) {
    ssize_t n = read(sfd, status, sizeof(status) - 1);
    close(sfd);
    if (n > 0) {
      status[n] = '\0';
      const char* line = strstr(status, "VmLck:");
      if (line) vmlck_kb = strtol(line + 6, nullptr, 10);
    }
  }
  char report[128];
  int len = snprintf(report, sizeof(report), "%llu %llu %ld", static_cast<unsigned long long>(s.locked_pages),
                     static_cast<unsigned long long>(s.held_locks), vmlck_kb);
  return write(fd, report, static_cast<size_t>(len)) == len ? 0 : 1;
}

Napi::Value ForkProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  char buf[128];
  size_t len = sizeof(buf) - 1;
  int status = fork_and_collect(ReportFromForkedChild, buf, &len);
  if (status != 0) throw Napi::Error::New(env, "memlock: forked child failed with status " + std::to_string(status));
  buf[len] = '\0';
  unsigned long long locked = 0, held = 0;
  long vmlck = -1;
  if (sscanf(buf, "%llu %llu %ld", &locked, &held, &vmlck) != 3) {
    throw Napi::Error::New(env, "memlock: unreadable report from forked child");
  }
  Napi::Object obj = Napi::Object::New(env);
  obj.Set("lockedPages", Napi::Number::New(env, static_cast<double>(locked)));
  obj.Set("heldLocks", Napi::Number::New(env, static_cast<double>(held)));
  obj.Set("vmLckKb", Napi::Number::New(env, static_cast<double>(vmlck)));
  return obj;
}

// setVerifyWipe(on): before unmapping, the pool checks the memory is zero.
Napi::Value SetVerifyWipe(const Napi::CallbackInfo& info) {
  SecretPool::instance().set_verify_wipe(info[0].ToBoolean());
  return info.Env().Undefined();
}

// wipeChecks() -> { checkedUnmaps, dirtyUnmaps } (dirty must stay 0).
Napi::Value WipeChecks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SecretPool::WipeChecks c = SecretPool::instance().wipe_checks();
  Napi::Object obj = Napi::Object::New(env);
  obj.Set("checkedUnmaps", Napi::Number::New(env, static_cast<double>(c.checked_unmaps)));
  obj.Set("dirtyUnmaps", Napi::Number::New(env, static_cast<double>(c.dirty_unmaps)));
  return obj;
}

// A forked child reads the view's bytes and sends them back. The child may
// die (MADV_DONTFORK memory is not there): status says how.
struct ForkRead {
  uintptr_t addr;
  size_t len;
};
ForkRead fork_read;  // set just before fork, on the calling thread

int SendBytesFromChild(int fd) {
  const char* bytes = reinterpret_cast<const char*>(fork_read.addr);
  return write(fd, bytes, fork_read.len) == static_cast<ssize_t>(fork_read.len) ? 0 : 1;
}

Napi::Value ForkReadBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes bytes = ViewBytes(info[0]);
  if (bytes.len > 65536) throw Napi::RangeError::New(env, "memlock: at most 64 KiB");
  fork_read = ForkRead{bytes.addr, bytes.len};
  std::vector<char> out(bytes.len);
  size_t len = out.size();
  int status = fork_and_collect(SendBytesFromChild, out.data(), &len);
  Napi::Object obj = Napi::Object::New(env);
  obj.Set("status", Napi::Number::New(env, status));
  obj.Set("bytes", Napi::Buffer<char>::Copy(env, out.data(), len));
  return obj;
}

// rawLockAll(flags): bare mlockall with no protection, to show why memlock's
// lockAll is needed.
Napi::Value RawLockAll(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), platform::lock_all(info[0].As<Napi::Number>().Int32Value()));
}

// forceMadviseFallback(on): take the path a kernel without
// MADV_DONTNEED_LOCKED (< 5.18) needs.
Napi::Value ForceMadviseFallback(const Napi::CallbackInfo& info) {
  madvise_hook::set_force_fallback(info[0].ToBoolean());
  return info.Env().Undefined();
}

// pokeByte(view, offset): writes one byte at `offset` from the view's start,
// past its end if asked (a guard page test).
Napi::Value PokeByte(const Napi::CallbackInfo& info) {
  Bytes bytes = ViewBytes(info[0]);
  int64_t offset = info[1].As<Napi::Number>().Int64Value();
  *reinterpret_cast<volatile unsigned char*>(bytes.addr + offset) = 0x5A;
  return info.Env().Undefined();
}

// injectFault(syscall, nth, errno): the nth call of that syscall fails.
Napi::Value InjectFault(const Napi::CallbackInfo& info) {
  int syscall = info[0].As<Napi::Number>().Int32Value();
  if (syscall <= 0 || syscall >= static_cast<int>(Syscall::kCount)) {
    throw Napi::RangeError::New(info.Env(), "memlock: no such syscall id");
  }
  fault::arm(static_cast<Syscall>(syscall), info[1].As<Napi::Number>().Int32Value(),
             info[2].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

// clearFault() -> how many injected failures fired since injectFault.
Napi::Value ClearFault(const Napi::CallbackInfo& info) {
  fault::disarm();
  return Napi::Number::New(info.Env(), fault::fired());
}

// mapFile(path, bytes, random) -> Buffer over a read-only MAP_SHARED mapping
// of the file (Node cannot make one), after dropping the file's clean pages
// from the page cache, so that the first reads come from disk and are
// charged to the reader's memory cgroup. `random` sets MADV_RANDOM (no
// readahead). The mapping lives as long as the process: the paging fixtures
// are short-lived children.
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsNumber() || info[1].As<Napi::Number>().DoubleValue() < 1) {
    throw Napi::TypeError::New(env, "memlock: mapFile(path, bytes, random)");
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  size_t len = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Napi::Error::New(env, std::string("memlock: mapFile: open: ") + strerror(errno));
  posix_fadvise(fd, 0, static_cast<off_t>(len), POSIX_FADV_DONTNEED);
  void* p = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (p == MAP_FAILED) throw Napi::Error::New(env, std::string("memlock: mapFile: mmap: ") + strerror(err));
  if (info[2].ToBoolean()) madvise(p, len, MADV_RANDOM);
  return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(p), len, [](Napi::Env, uint8_t*) {});
}

// foreignDetach(arraybuffer): what another addon does to a buffer it was
// handed (sodium-native's sodium_free): napi_detach_arraybuffer, behind
// memlock's back. Returns the napi_status.
Napi::Value ForeignDetach(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), napi_detach_arraybuffer(info.Env(), info[0]));
}

// mapGuard() -> { cap, margin }: the vm.max_map_count the Locker read at
// load and the mappings it keeps free below it.
Napi::Value MapGuard(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("cap", Napi::Number::New(info.Env(), static_cast<double>(Locker::instance().max_map_count())));
  out.Set("margin", Napi::Number::New(info.Env(), static_cast<double>(Locker::instance().map_margin())));
  return out;
}

// denySyscall(number, errno) -> 0 | -errno: a seccomp filter, on every
// thread of the process, that answers syscall `number` with `errno` (as a
// container's profile refuses what it does not know). For child processes:
// it cannot be removed.
Napi::Value DenySyscall(const Napi::CallbackInfo& info) {
  uint32_t number = info[0].As<Napi::Number>().Uint32Value();
  uint32_t error = info[1].As<Napi::Number>().Uint32Value();
#if defined(__x86_64__)
  constexpr uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  constexpr uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
  constexpr uint32_t kArch = 0;
#endif
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, number, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (error & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Napi::Number::New(info.Env(), -errno);
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &program);
  return Napi::Number::New(info.Env(), rc == 0 ? 0 : -errno);
}

// readSelfMem(address, length) -> Buffer | -errno: pread of /proc/self/mem
// at the address, as root or a debugger reads another process's memory.
Napi::Value ReadSelfMem(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t address = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
  size_t length = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Napi::Number::New(env, -errno);
  std::vector<char> bytes(length);
  ssize_t n = pread(fd, bytes.data(), length, static_cast<off_t>(address));
  int err = errno;
  close(fd);
  if (n < 0) return Napi::Number::New(env, -err);
  return Napi::Buffer<char>::Copy(env, bytes.data(), static_cast<size_t>(n));
}

}  // namespace

void AddTestHooks(Napi::Env env, Napi::Object exports) {
  auto add = [&](const char* name, Napi::Function::Callback callback) {
    exports.Set(name, Napi::Function::New(env, callback, name));
  };
  add("rawMlock", RawRange<platform::lock_range>);
  add("rawMunlock", RawRange<platform::unlock_range>);
  add("forkProbe", ForkProbe);
  add("setVerifyWipe", SetVerifyWipe);
  add("wipeChecks", WipeChecks);
  add("forkReadBytes", ForkReadBytes);
  add("rawLockAll", RawLockAll);
  add("forceMadviseFallback", ForceMadviseFallback);
  add("pokeByte", PokeByte);
  add("injectFault", InjectFault);
  add("clearFault", ClearFault);
  add("mapFile", MapFile);
  add("foreignDetach", ForeignDetach);
  add("mapGuard", MapGuard);
  add("denySyscall", DenySyscall);
  add("readSelfMem", ReadSelfMem);
}

}  // namespace memlock
