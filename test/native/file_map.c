// A test-only addon: a file mapping as a Buffer, which Node cannot make
// itself. The paging-pressure fixtures read and pin it (test/helpers/file-map.ts
// builds this with cc against the running node's headers).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static napi_value fail(napi_env env, const char* what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "file-map: %s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static void nothing(napi_env env, void* data, void* hint) {
  (void)env;
  (void)data;
  (void)hint;
}

// mapFile(path, bytes, random) -> Buffer over a read-only MAP_SHARED mapping,
// after dropping the file's clean pages from the page cache (so the first
// reads come from disk and are charged to the reader's memory cgroup).
// `random` sets MADV_RANDOM (no readahead). The mapping lives as long as the
// process: fixtures are short-lived children.
static napi_value map_file(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char path[4096];
  size_t path_len = 0;
  double bytes = 0;
  bool random = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len) != napi_ok ||
      napi_get_value_double(env, argv[1], &bytes) != napi_ok || bytes < 1) {
    napi_throw_type_error(env, NULL, "file-map: mapFile(path, bytes, random)");
    return NULL;
  }
  napi_get_value_bool(env, argv[2], &random);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(env, "open", errno);
  size_t len = (size_t)bytes;
  posix_fadvise(fd, 0, (off_t)len, POSIX_FADV_DONTNEED);
  void* p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (p == MAP_FAILED) return fail(env, "mmap", err);
  if (random) madvise(p, len, MADV_RANDOM);
  napi_value buffer = NULL;
  if (napi_create_external_buffer(env, len, p, nothing, NULL, &buffer) != napi_ok) {
    munmap(p, len);
    napi_throw_error(env, NULL, "file-map: no external Buffer here");
    return NULL;
  }
  return buffer;
}

NAPI_MODULE_INIT() {
  napi_value fn = NULL;
  napi_create_function(env, "mapFile", NAPI_AUTO_LENGTH, map_file, NULL, &fn);
  napi_set_named_property(env, exports, "mapFile", fn);
  return exports;
}
