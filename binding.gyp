{
  "targets": [
    {
      "target_name": "memlock",
      "sources": [
        "native/binding.cc",
        "native/env_state.cc",
        "native/lock_registry.cc",
        "native/locker.cc",
        "native/napi_views.cc",
        "native/page_table.cc",
        "native/pinned_binding.cc",
        "native/pinned_memory.cc",
        "native/secret_pool.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "native/glibc_compat.cc",
            "native/loop_watch.cc",
            "native/madvise_hook.cc",
            "native/paging_binding.cc",
            "native/paging_sample.cc",
            "native/platform_linux.cc",
            "native/platform_unix.cc",
            "native/psi_monitor.cc"
          ],
          "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra"],
          "cflags_cc": ["-fvisibility=hidden", "-Wall", "-Wextra", "-std=c++17"],
          "ldflags": ["-static-libstdc++", "-Wl,--exclude-libs,ALL"]
        }],
        ["OS=='mac' or OS=='freebsd' or OS=='openbsd' or OS=='netbsd'", {
          "sources": [
            "native/madvise_hook_none.cc",
            "native/paging_none.cc",
            "native/platform_posix.cc",
            "native/platform_unix.cc"
          ],
          "cflags_cc": ["-fvisibility=hidden", "-Wall", "-Wextra", "-std=c++17"],
          "xcode_settings": {
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
            "MACOSX_DEPLOYMENT_TARGET": "10.15",
            "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra"]
          }
        }],
        ["OS=='win'", {
          "sources": [
            "native/madvise_hook_none.cc",
            "native/paging_none.cc",
            "native/platform_win32.cc",
            "native/working_set.cc"
          ],
          "defines": ["WIN32_LEAN_AND_MEAN", "NOMINMAX"],
          "msvs_settings": {
            "VCCLCompilerTool": { "AdditionalOptions": ["/std:c++17"] }
          }
        }]
      ]
    }
  ]
}
