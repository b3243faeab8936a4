#!/usr/bin/env bash
# Every prebuild must load wherever official node 20, 22 and 24 load: glibc
# 2.28, and a libstdc++ we cannot count on (node needs GCC 5's; binding.gyp
# links ours in). So, read from `objdump -T` and `objdump -p` (readelf for
# the machine): no GLIBCXX or CXXABI symbol version, no glibc symbol version
# newer than 2.28, nothing in NEEDED that node does not need itself (no
# libstdc++), and the machine that the directory name promises.
#   scripts/check-prebuilds.sh [prebuilds/linux-x64/memlock.node ...]
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_GLIBC=2.28

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  shopt -s nullglob
  # The Linux ones: the Windows prebuild's imports are checked where it is
  # made (scripts/build-win.sh).
  files=(prebuilds/linux-*/*.node)
fi
if [ ${#files[@]} -eq 0 ]; then
  echo "check-prebuilds: no prebuilds/linux-*/*.node (run npm run prebuilds)" >&2
  exit 1
fi

# The symbol versions (NAME_x.y) of prefix $1 in $dynsyms, oldest first.
version_names() {
  { grep -oE "\($1_[0-9.]+\)" <<< "$dynsyms" || true; } | tr -d '()' | sort -uV
}

failed=0
for file in "${files[@]}"; do
  bad=()
  case "$file" in
    *linux-x64/*) expected=X86-64 ;;
    *linux-arm64/*) expected=AArch64 ;;
    *) expected='(no linux-x64 or linux-arm64 in the path)' ;;
  esac
  # readelf reads every machine's headers; Debian's plain objdump does not
  # know AArch64 (it still reads the dynamic symbols).
  machine=$(readelf -h "$file" | sed -n 's/^ *Machine: *//p')
  [[ "$machine" == *"$expected" ]] || bad+=("machine $machine, expected $expected")

  dynsyms=$(objdump -T "$file")
  versions=$(version_names '(GLIBC|GLIBCXX|CXXABI|GCC)' | tr '\n' ' ')
  newest=$(version_names GLIBC | sed 's/GLIBC_//' | tail -1)
  if [ "$(printf '%s\n%s\n' "$newest" "$MAX_GLIBC" | sort -V | tail -1)" != "$MAX_GLIBC" ]; then
    bad+=("needs glibc $newest:$(grep -F "(GLIBC_$newest)" <<< "$dynsyms" | awk '{printf " %s", $NF}')")
  fi
  cxx=$(version_names '(GLIBCXX|CXXABI)' | tr '\n' ' ')
  [ -z "$cxx" ] || bad+=("libstdc++ symbol versions: $cxx")

  needed=$(objdump -p "$file" | awk '$1 == "NEEDED" { print $2 }' | tr '\n' ' ')
  for lib in $needed; do
    case "$lib" in
      libc.so.6 | libm.so.6 | libdl.so.2 | libpthread.so.0 | libgcc_s.so.1 | ld-linux-*.so.*) ;;
      *) bad+=("needs $lib") ;;
    esac
  done

  printf '%s (%s, %s bytes)\n' "$file" "$machine" "$(stat -c %s "$file")"
  printf '  NEEDED:   %s\n' "$needed"
  printf '  versions: %s\n' "$versions"
  printf '  newest glibc symbol: %s (at most %s)\n' "$newest" "$MAX_GLIBC"
  if [ ${#bad[@]} -eq 0 ]; then
    echo '  ok'
  else
    printf '  FAIL: %s\n' "${bad[@]}"
    failed=1
  fi
done
exit $failed
