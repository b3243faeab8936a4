{
  "targets": [
    {
      "target_name": "memlock",
      "sources": [
        "native/binding.cc",
        "native/detach_guard.cc",
        "native/env_state.cc",
        "native/glibc_compat.cc",
        "native/lock_registry.cc",
        "native/madvise_hook.cc",
        "native/napi_views.cc",
        "native/locker.cc",
        "native/loop_watch.cc",
        "native/page_table.cc",
        "native/paging_binding.cc",
        "native/paging_sample.cc",
        "native/pinned_binding.cc",
        "native/pinned_memory.cc",
        "native/platform_linux.cc",
        "native/psi_monitor.cc",
        "native/secret_pool.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra"],
      "cflags_cc": ["-fvisibility=hidden", "-Wall", "-Wextra", "-std=c++17"],
      "ldflags": ["-static-libstdc++", "-Wl,--exclude-libs,ALL"],
      "libraries": ["-ldl"]
    }
  ]
}
