// The floor memlock is measured against: the same mlock/munlock calls made
// straight from C, on memory set up the way overhead.ts sets up its own.
// The CMake target raw_mlock, built into build-bench/ and run by overhead.ts.
//
// raw-mlock page ITERS BATCHES
//   one page: mlock+munlock pairs, and mlock of an already-locked page;
//   prints one JSON object with the median ns per op over BATCHES batches.
// raw-mlock gib ITERS
//   maps and touches 1 GiB, then locks and unlocks all of it ITERS times;
//   prints the median ns of the pair, of mlock and of munlock, and the pair's
//   fastest and slowest.
//
// Both print one JSON object on stdout; a failed call prints {"error": ...}.
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define GIB (1UL << 30)

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // the clock process.hrtime uses too
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

// Sorts in place. Even counts average the middle two.
static double median(double* v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char* what) {
  // Still JSON, so the parent can show why.
  printf("{\"error\":\"%s: %s\"}\n", what, strerror(errno));
  exit(1);
}

// A batch of mlock+munlock pairs on one page: count 0 -> 1 -> 0 each time.
static double page_pair_batch(char* page, size_t ps, long iters) {
  uint64_t t0 = now_ns();
  for (long i = 0; i < iters; i++) {
    if (mlock(page, ps) != 0) die("mlock");
    if (munlock(page, ps) != 0) die("munlock");
  }
  return (double)(now_ns() - t0) / (double)iters;
}

// A batch of mlock calls on a page that is already locked (the kernel still
// walks the VMA and the page tables; nothing changes).
static double page_relock_batch(char* page, size_t ps, long iters) {
  uint64_t t0 = now_ns();
  for (long i = 0; i < iters; i++) {
    if (mlock(page, ps) != 0) die("mlock");
  }
  return (double)(now_ns() - t0) / (double)iters;
}

static int run_page(long iters, int batches) {
  const size_t ps = (size_t)sysconf(_SC_PAGESIZE);
  double* samples = malloc(sizeof(double) * (size_t)batches);
  if (!samples) die("malloc");

  // From malloc like the Node side's Buffer.alloc, so the page sits inside a
  // larger heap mapping and mlock splits it the same way.
  char* block = malloc(3 * ps);
  if (!block) die("malloc");
  memset(block, 1, 3 * ps);
  char* page = (char*)(((uintptr_t)block + ps - 1) & ~(uintptr_t)(ps - 1));

  for (int w = 0; w < 3; w++) page_pair_batch(page, ps, iters / 10 + 1);  // warm up
  for (int b = 0; b < batches; b++) samples[b] = page_pair_batch(page, ps, iters);
  double pair_min = samples[0], pair_max = samples[0];
  for (int b = 1; b < batches; b++) {
    if (samples[b] < pair_min) pair_min = samples[b];
    if (samples[b] > pair_max) pair_max = samples[b];
  }
  double pair_med = median(samples, batches);

  if (mlock(page, ps) != 0) die("mlock");
  for (int w = 0; w < 3; w++) page_relock_batch(page, ps, iters / 10 + 1);
  for (int b = 0; b < batches; b++) samples[b] = page_relock_batch(page, ps, iters);
  double relock_med = median(samples, batches);  // sorts: the fastest is first
  double relock_min = samples[0];
  if (munlock(page, ps) != 0) die("munlock");

  printf("{\"pageSize\":%zu,"
         "\"onePage\":{\"iters\":%ld,\"batches\":%d,\"mlockMunlockNs\":%.1f,\"minNs\":%.1f,\"maxNs\":%.1f},"
         "\"relock\":{\"iters\":%ld,\"batches\":%d,\"mlockLockedNs\":%.1f,\"minNs\":%.1f}}\n",
         ps, iters, batches, pair_med, pair_min, pair_max, iters, batches, relock_med, relock_min);
  free(samples);
  free(block);
  return 0;
}

// Run while no other process of the benchmark holds its GiB: whichever of two
// processes faults its GiB in second gets memory that locks ~6% faster on
// this VM, which is more than the difference being measured.
static int run_gib(int iters) {
  const size_t ps = (size_t)sysconf(_SC_PAGESIZE);
  double* pair = malloc(sizeof(double) * (size_t)iters);
  double* lock = malloc(sizeof(double) * (size_t)iters);
  double* unlock = malloc(sizeof(double) * (size_t)iters);
  if (!pair || !lock || !unlock) die("malloc");

  // Every page touched before any timing: the first touch of VM memory costs
  // far more than locking it.
  char* gib = mmap(NULL, GIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (gib == MAP_FAILED) die("mmap");
  uint64_t t0 = now_ns();
  for (size_t off = 0; off < GIB; off += ps) gib[off] = 1;
  double touch_ms = (double)(now_ns() - t0) / 1e6;

  if (mlock(gib, GIB) != 0) die("mlock 1 GiB");  // warm up
  if (munlock(gib, GIB) != 0) die("munlock 1 GiB");
  for (int i = 0; i < iters; i++) {
    uint64_t a = now_ns();
    if (mlock(gib, GIB) != 0) die("mlock 1 GiB");
    uint64_t b = now_ns();
    if (munlock(gib, GIB) != 0) die("munlock 1 GiB");
    uint64_t c = now_ns();
    pair[i] = (double)(c - a);
    lock[i] = (double)(b - a);
    unlock[i] = (double)(c - b);
  }
  munmap(gib, GIB);
  double pair_med = median(pair, iters);  // sorts: min and max are at the ends
  printf("{\"iters\":%d,\"touchMs\":%.1f,\"mlockMunlockNs\":%.0f,\"minNs\":%.0f,\"maxNs\":%.0f,"
         "\"mlockNs\":%.0f,\"munlockNs\":%.0f}\n",
         iters, touch_ms, pair_med, pair[0], pair[iters - 1], median(lock, iters), median(unlock, iters));
  free(pair);
  free(lock);
  free(unlock);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "page") == 0) {
    long iters = atol(argv[2]);
    int batches = atoi(argv[3]);
    if (iters >= 1 && batches >= 1 && batches <= 10000) return run_page(iters, batches);
  } else if (argc == 3 && strcmp(argv[1], "gib") == 0) {
    int iters = atoi(argv[2]);
    if (iters >= 1 && iters <= 1000) return run_gib(iters);
  }
  fprintf(stderr, "usage: %s page ITERS BATCHES | %s gib ITERS\n", argv[0], argv[0]);
  return 2;
}
