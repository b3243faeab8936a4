{
  # The shipped addon. Its sources come from native/sources.json, the one
  # list every build reads (scripts/native-sources.js); NAPI_VERSION and the
  # exception rule are set in native/binding/addon_api.h.
  "targets": [
    {
      "target_name": "memlock",
      "sources": ["<!@(node scripts/native-sources.js core binding)"],
      "include_dirs": ["native"],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "conditions": [
        ["OS=='linux'", {
          "sources": ["<!@(node scripts/native-sources.js linux linux-prebuild)"],
          "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra"],
          "cflags_cc": ["-fvisibility=hidden", "-Wall", "-Wextra", "-std=c++17"],
          "ldflags": ["-static-libstdc++", "-Wl,--exclude-libs,ALL"]
        }],
        ["OS=='mac' or OS=='freebsd' or OS=='openbsd' or OS=='netbsd'", {
          "sources": ["<!@(node scripts/native-sources.js posix)"],
          "cflags_cc": ["-fvisibility=hidden", "-Wall", "-Wextra", "-std=c++17"],
          "xcode_settings": {
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
            "MACOSX_DEPLOYMENT_TARGET": "10.15",
            "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra"]
          }
        }],
        ["OS=='win'", {
          "sources": ["<!@(node scripts/native-sources.js win32)"],
          "defines": ["WIN32_LEAN_AND_MEAN", "NOMINMAX"],
          "msvs_settings": {
            "VCCLCompilerTool": { "AdditionalOptions": ["/std:c++17"] }
          }
        }]
      ]
    }
  ]
}
