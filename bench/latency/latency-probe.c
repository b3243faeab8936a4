// Bench-only N-API addon for latency.ts and jitter.ts: the per-access timing
// loop (JS's clock costs 50-100 ns a read, too coarse for a resident page),
// the mappings it times, madvise/mincore on them, and a thread that evicts
// the process's own mappings. Never part of the package. The CMake target
// latency_probe, built by probe.ts into build-bench/.
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#define CHECK(call)                                              \
  do {                                                           \
    if ((call) != napi_ok) {                                     \
      napi_throw_error(env, NULL, "latency-probe: " #call " failed"); \
      return NULL;                                               \
    }                                                            \
  } while (0)

static size_t page_size;
static double tsc_per_ns;  // 0 until calibrated, or when rdtscp is missing

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int has_rdtscp(void) {
  unsigned a, b, c, d;
  return __get_cpuid(0x80000001, &a, &b, &c, &d) && (d & (1u << 27));
}

// memlock hooks the madvise GOT slots of loaded objects (this one included)
// while lockAll is on; the raw syscall keeps every call here unhooked.
static int raw_madvise(void* addr, size_t len, int advice) {
  return syscall(SYS_madvise, addr, len, advice) == 0 ? 0 : -errno;
}

// ------------------------------------------------------------ arguments

static napi_value num(napi_env env, double v) {
  napi_value out = NULL;
  napi_create_double(env, v, &out);
  return out;
}

static void set_num(napi_env env, napi_value obj, const char* name, double v) {
  napi_set_named_property(env, obj, name, num(env, v));
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "latency-probe: missing arguments");
    return 0;
  }
  return 1;
}

// A TypedArray's data and its length in elements (of `type`).
static void* typed(napi_env env, napi_value v, napi_typedarray_type type, size_t* length) {
  napi_typedarray_type t;
  void* data = NULL;
  if (napi_get_typedarray_info(env, v, &t, length, &data, NULL, NULL) != napi_ok || t != type) {
    napi_throw_type_error(env, NULL, "latency-probe: wrong TypedArray type");
    return NULL;
  }
  return data;
}

// ------------------------------------------------------------ mappings

// The mappings this addon made: unmap() refuses anything else, so a wrong
// Buffer can never munmap memory V8 or memlock owns.
#define MAX_MAPPINGS 64
static struct {
  char* addr;
  size_t len;
} mappings[MAX_MAPPINGS];

static void nothing(napi_env env, void* data, void* hint) {
  (void)env;
  (void)data;
  (void)hint;
}

static napi_value wrap(napi_env env, char* addr, size_t len) {
  int slot = -1;
  for (int i = 0; i < MAX_MAPPINGS && slot < 0; i++)
    if (mappings[i].addr == NULL) slot = i;
  napi_value buffer = NULL;
  if (slot < 0 || napi_create_external_buffer(env, len, addr, nothing, NULL, &buffer) != napi_ok) {
    munmap(addr, len);
    napi_throw_error(env, NULL, "latency-probe: too many mappings, or no external Buffer");
    return NULL;
  }
  mappings[slot].addr = addr;
  mappings[slot].len = len;
  return buffer;
}

static napi_value throw_errno(napi_env env, const char* what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "latency-probe: %s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

// mapAnon(bytes) -> Buffer: fresh private anonymous memory, 4 KiB pages
// (MADV_NOHUGEPAGE: a huge-page fault would time 512 pages as one).
static napi_value map_anon(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  double bytes = 0;
  if (!get_args(env, info, 1, argv)) return NULL;
  CHECK(napi_get_value_double(env, argv[0], &bytes));
  size_t len = (size_t)bytes;
  char* p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return throw_errno(env, "mmap", errno);
  raw_madvise(p, len, MADV_NOHUGEPAGE);
  return wrap(env, p, len);
}

// mapFile(path, bytes) -> Buffer: a read-only MAP_SHARED view of the file,
// so its pages are the page cache's and can be evicted without swap.
static napi_value map_file(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[4096];
  size_t pathLen = 0;
  double bytes = 0;
  if (!get_args(env, info, 2, argv)) return NULL;
  CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &pathLen));
  CHECK(napi_get_value_double(env, argv[1], &bytes));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open", errno);
  size_t len = (size_t)bytes;
  char* p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (p == MAP_FAILED) return throw_errno(env, "mmap", err);
  return wrap(env, p, len);
}

// unmap(buffer): detaches the Buffer (so JS cannot touch the memory after),
// then munmaps. Only for Buffers from mapAnon/mapFile; a second call is a no-op.
static napi_value unmap(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  napi_value arraybuffer = NULL;
  void* data = NULL;
  size_t len = 0;
  if (!get_args(env, info, 1, argv)) return NULL;
  CHECK(napi_get_typedarray_info(env, argv[0], NULL, &len, &data, &arraybuffer, NULL));
  for (int i = 0; i < MAX_MAPPINGS; i++) {
    if (data != NULL && mappings[i].addr == data) {
      CHECK(napi_detach_arraybuffer(env, arraybuffer));
      munmap(mappings[i].addr, mappings[i].len);
      mappings[i].addr = NULL;
      break;
    }
  }
  return NULL;
}

// advise(buffer, advice) -> 0 or -errno.
static napi_value advise(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  void* data = NULL;
  size_t len = 0;
  int32_t advice = 0;
  if (!get_args(env, info, 2, argv)) return NULL;
  CHECK(napi_get_buffer_info(env, argv[0], &data, &len));
  CHECK(napi_get_value_int32(env, argv[1], &advice));
  return num(env, raw_madvise(data, len, advice));
}

// ------------------------------------------------------------ clocks

// calibrate(ms) -> TSC ticks per ns against CLOCK_MONOTONIC over `ms`, or 0
// without rdtscp. Later probes with the TSC clock convert with this figure.
static napi_value calibrate(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  double ms = 0;
  unsigned aux;
  if (!get_args(env, info, 1, argv)) return NULL;
  CHECK(napi_get_value_double(env, argv[0], &ms));
  if (!has_rdtscp()) return num(env, tsc_per_ns = 0);
  uint64_t n0 = mono_ns(), c0 = __rdtscp(&aux);
  struct timespec d = {(time_t)(ms / 1000), (long)((uint64_t)(ms * 1e6) % 1000000000u)};
  nanosleep(&d, NULL);
  uint64_t n1 = mono_ns(), c1 = __rdtscp(&aux);
  return num(env, tsc_per_ns = (double)(c1 - c0) / (double)(n1 - n0));
}

// The timed region is the same for both clocks: read, lfence (so what
// follows cannot start early), the access, read (rdtscp and the vDSO's
// ordered rdtsc both wait for earlier loads to complete).
static inline uint64_t tsc_start(unsigned* cpu) {
  uint64_t t = __rdtscp(cpu);
  _mm_lfence();
  return t;
}

static inline uint64_t tsc_end(unsigned* cpu) {
  uint64_t t = __rdtscp(cpu);
  _mm_lfence();
  return t;
}

// floor(clock, out): back-to-back reads of the clock (0 = clock_gettime,
// 1 = rdtscp), ns each: what every sample includes besides the access.
static napi_value clock_floor(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t clock = 0;
  size_t n = 0;
  unsigned a, b;
  if (!get_args(env, info, 2, argv)) return NULL;
  CHECK(napi_get_value_int32(env, argv[0], &clock));
  double* out = typed(env, argv[1], napi_float64_array, &n);
  if (out == NULL) return NULL;
  if (clock == 1 && tsc_per_ns == 0) return throw_errno(env, "rdtscp floor", ENOTSUP);
  for (size_t i = 0; i < n; i++) {
    if (clock == 1) {
      uint64_t t0 = tsc_start(&a);
      uint64_t t1 = tsc_end(&b);
      out[i] = (double)(t1 - t0) / tsc_per_ns;
    } else {
      uint64_t t0 = mono_ns();
      _mm_lfence();
      uint64_t t1 = mono_ns();
      out[i] = (double)(t1 - t0);
    }
  }
  return NULL;
}

// tscStep() -> ns: how far the TSC usually moves between two reads in a
// row. Under a hypervisor the guest's TSC may advance in steps of many
// ticks (26 here, 10 ns), and no sample can be finer than that.
static napi_value tsc_step(napi_env env, napi_callback_info info) {
  (void)info;
  if (tsc_per_ns == 0) return num(env, 0);
  static unsigned seen[1024];
  memset(seen, 0, sizeof seen);
  uint64_t prev = __rdtsc();
  for (int i = 0; i < 100000; i++) {
    uint64_t t = __rdtsc();
    if (t > prev && t - prev < 1024) seen[t - prev]++;
    prev = t;
  }
  unsigned mode = 1;
  for (unsigned d = 1; d < 1024; d++)
    if (seen[d] > seen[mode]) mode = d;
  return num(env, (double)mode / tsc_per_ns);
}

// ------------------------------------------------------------ the probe

static void usage(struct rusage* ru) { getrusage(RUSAGE_THREAD, ru); }

// probe(clock, buffer, order: Uint32Array, from, count, write, out: Float64Array)
//   -> { minflt, majflt, nvcsw, nivcsw, migrations }
// Touches page order[i] of `buffer` for i in [from, from + count), timing each
// touch alone; out[i] = ns. A read is one volatile load; a write is a locked
// increment, which is a write fault on a fresh page (one fault, zeroing
// included) and completes before the clock is read (a plain store could
// retire into the store buffer first). Each page is touched at a different
// cache line, so all touches do not fall into the same cache sets.
// Faults and context switches are this thread's (RUSAGE_THREAD), over the loop.
static napi_value probe(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  int32_t clock = 0;
  uint32_t from = 0, count = 0;
  bool write = false;
  char* base = NULL;
  size_t len = 0, orderLen = 0, outLen = 0;
  if (!get_args(env, info, 7, argv)) return NULL;
  CHECK(napi_get_value_int32(env, argv[0], &clock));
  CHECK(napi_get_buffer_info(env, argv[1], (void**)&base, &len));
  uint32_t* order = typed(env, argv[2], napi_uint32_array, &orderLen);
  if (order == NULL) return NULL;
  CHECK(napi_get_value_uint32(env, argv[3], &from));
  CHECK(napi_get_value_uint32(env, argv[4], &count));
  CHECK(napi_get_value_bool(env, argv[5], &write));
  double* out = typed(env, argv[6], napi_float64_array, &outLen);
  if (out == NULL) return NULL;
  size_t pages = len / page_size;
  if ((size_t)from + count > orderLen || (size_t)from + count > outLen) {
    napi_throw_range_error(env, NULL, "latency-probe: from + count beyond order or out");
    return NULL;
  }
  for (size_t i = from; i < (size_t)from + count; i++) {
    if (order[i] >= pages) {
      napi_throw_range_error(env, NULL, "latency-probe: page index beyond the buffer");
      return NULL;
    }
  }
  if (clock == 1 && tsc_per_ns == 0) return throw_errno(env, "rdtscp probe", ENOTSUP);

  struct rusage before, after;
  unsigned migrations = 0;
  volatile uint8_t sink = 0;
  // Written once before the count starts: a fresh `out` would otherwise add
  // its own first-touch faults to the buffer's.
  for (size_t i = from; i < (size_t)from + count; i++) out[i] = 0;
  usage(&before);
  for (size_t i = from; i < (size_t)from + count; i++) {
    uint8_t* p = (uint8_t*)base + (size_t)order[i] * page_size + ((order[i] * 31u) & 63u) * 64u;
    if (clock == 1) {
      unsigned c0, c1;
      uint64_t t0 = tsc_start(&c0);
      if (write) __atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
      else sink = *(volatile uint8_t*)p;
      uint64_t t1 = tsc_end(&c1);
      out[i] = (double)(t1 - t0);  // converted below, outside the timed loop
      migrations += c0 != c1;
    } else {
      uint64_t t0 = mono_ns();
      _mm_lfence();
      if (write) __atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
      else sink = *(volatile uint8_t*)p;
      uint64_t t1 = mono_ns();
      out[i] = (double)(t1 - t0);
    }
  }
  usage(&after);
  (void)sink;
  if (clock == 1)
    for (size_t i = from; i < (size_t)from + count; i++) out[i] /= tsc_per_ns;

  napi_value result;
  CHECK(napi_create_object(env, &result));
  set_num(env, result, "minflt", (double)(after.ru_minflt - before.ru_minflt));
  set_num(env, result, "majflt", (double)(after.ru_majflt - before.ru_majflt));
  set_num(env, result, "nvcsw", (double)(after.ru_nvcsw - before.ru_nvcsw));
  set_num(env, result, "nivcsw", (double)(after.ru_nivcsw - before.ru_nivcsw));
  set_num(env, result, "migrations", migrations);
  return result;
}

// ------------------------------------------------------------ pressure

// A thread that calls madvise(MADV_PAGEOUT) on each given range every period:
// the process evicting its own pages, so a benchmark needs no memory hog.
static struct {
  pthread_t thread;
  int running;
  volatile int stop;
  double* ranges;  // [address, bytes, ...]
  size_t count;
  uint64_t period_ns;
  double passes, ok, refused, failed, busy_ns;
  int last_errno;
} pressure;

static void* pressure_main(void* arg) {
  (void)arg;
  while (!pressure.stop) {
    uint64_t t0 = mono_ns();
    for (size_t i = 0; i + 1 < pressure.count; i += 2) {
      int rc = raw_madvise((void*)(uintptr_t)pressure.ranges[i], (size_t)pressure.ranges[i + 1], MADV_PAGEOUT);
      if (rc == 0) pressure.ok++;
      else if (rc == -EINVAL) pressure.refused++;  // a locked mapping: the kernel refuses
      else {
        pressure.failed++;
        pressure.last_errno = -rc;
      }
    }
    uint64_t spent = mono_ns() - t0;
    pressure.busy_ns += (double)spent;
    pressure.passes++;
    if (spent < pressure.period_ns) {
      uint64_t rest = pressure.period_ns - spent;
      struct timespec d = {(time_t)(rest / 1000000000u), (long)(rest % 1000000000u)};
      nanosleep(&d, NULL);
    }
  }
  return NULL;
}

// pressureStart(ranges: Float64Array [address, bytes, ...], periodUs)
static napi_value pressure_start(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  size_t n = 0;
  double period = 0;
  if (!get_args(env, info, 2, argv)) return NULL;
  double* ranges = typed(env, argv[0], napi_float64_array, &n);
  if (ranges == NULL) return NULL;
  CHECK(napi_get_value_double(env, argv[1], &period));
  if (pressure.running) return throw_errno(env, "pressureStart", EBUSY);
  free(pressure.ranges);
  memset(&pressure, 0, sizeof pressure);
  pressure.ranges = malloc(n * sizeof(double));
  if (pressure.ranges == NULL) return throw_errno(env, "pressureStart", ENOMEM);
  memcpy(pressure.ranges, ranges, n * sizeof(double));
  pressure.count = n;
  pressure.period_ns = (uint64_t)(period * 1000);
  int rc = pthread_create(&pressure.thread, NULL, pressure_main, NULL);
  if (rc != 0) return throw_errno(env, "pthread_create", rc);
  pressure.running = 1;
  return NULL;
}

// pressureStop() -> { passes, ok, refused, failed, lastErrno, busyNs }
static napi_value pressure_stop(napi_env env, napi_callback_info info) {
  (void)info;
  if (pressure.running) {
    pressure.stop = 1;
    pthread_join(pressure.thread, NULL);
    pressure.running = 0;
  }
  napi_value result;
  CHECK(napi_create_object(env, &result));
  set_num(env, result, "passes", pressure.passes);
  set_num(env, result, "ok", pressure.ok);
  set_num(env, result, "refused", pressure.refused);
  set_num(env, result, "failed", pressure.failed);
  set_num(env, result, "lastErrno", pressure.last_errno);
  set_num(env, result, "busyNs", pressure.busy_ns);
  return result;
}

// ------------------------------------------------------------ module

static void export_fn(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

NAPI_MODULE_INIT() {
  page_size = (size_t)sysconf(_SC_PAGESIZE);
  export_fn(env, exports, "mapAnon", map_anon);
  export_fn(env, exports, "mapFile", map_file);
  export_fn(env, exports, "unmap", unmap);
  export_fn(env, exports, "advise", advise);
  export_fn(env, exports, "calibrate", calibrate);
  export_fn(env, exports, "floor", clock_floor);
  export_fn(env, exports, "tscStep", tsc_step);
  export_fn(env, exports, "probe", probe);
  export_fn(env, exports, "pressureStart", pressure_start);
  export_fn(env, exports, "pressureStop", pressure_stop);
  set_num(env, exports, "MADV_NORMAL", MADV_NORMAL);
  set_num(env, exports, "MADV_RANDOM", MADV_RANDOM);
  set_num(env, exports, "MADV_SEQUENTIAL", MADV_SEQUENTIAL);
  set_num(env, exports, "MADV_PAGEOUT", MADV_PAGEOUT);
  set_num(env, exports, "hasRdtscp", has_rdtscp());
  return exports;
}
