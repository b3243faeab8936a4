#!/usr/bin/env bash
# npm run test:tarball: the install recipe a user without a compiler follows.
# Packs this checkout (`npm pack`: prepack builds lib/ and this machine's
# prebuild), then for each supported Node line (20 22 24; NODE_LINES picks
# some) installs the tarball into a new project with a PATH that holds node,
# npm and sh only (no cc, c++, g++, make or python) and
# npm_config_build_from_source unset, and there requires memlock, locks a
# buffer, checks it is locked by the kernel's account (smaps Locked:) and that
# it was the prebuild that loaded (no build/ in the installed package).
# Node 20 is the node running this script when it is 20, else the official
# binary (scripts/node-lines.sh), as are 22 and 24.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a lines <<< "${NODE_LINES:-20 22 24}"
# shellcheck source=scripts/node-lines.sh
source scripts/node-lines.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/memlock-tarball-XXXXXX")
trap 'rm -rf "$work"' EXIT
npm pack --pack-destination "$work" --silent > /dev/null
tarball=$(echo "$work"/memlock-*.tgz)
tar -tzf "$tarball" > "$work/contents"
grep -qx "package/prebuilds/$(node -p 'process.platform + "-" + process.arch')/memlock.node" "$work/contents" ||
  { echo "test-tarball: the tarball has no prebuild for this machine" >&2; exit 1; }
if grep -E '^package/(native/testing/|test/|bench/|fuzz/|build/)' "$work/contents"; then
  echo "test-tarball: the tarball carries test or build files (above)" >&2
  exit 1
fi
npm_cli=$(node -p 'require("path").join(require("path").dirname(process.execPath), "..", "lib", "node_modules", "npm", "bin", "npm-cli.js")')
[ -f "$npm_cli" ] || npm_cli=$(readlink -f "$(command -v npm)")

summary=()
status=0
for line in "${lines[@]}"; do
  if [ "$(node -p 'process.versions.node.split(".")[0]')" = "$line" ]; then
    bin=$(dirname "$(command -v node)")
  else
    bin=$(node_line_bin "$line")
  fi
  # A PATH with nothing a source build could use.
  tools="$work/bin-$line"
  mkdir -p "$tools"
  ln -sf "$bin/node" "$tools/node"
  ln -sf "$(command -v sh)" "$tools/sh"
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$bin/node" "$npm_cli" > "$tools/npm"
  chmod +x "$tools/npm"
  project="$work/project-$line"
  mkdir -p "$project"
  echo '{ "name": "tarball-user", "version": "1.0.0", "private": true }' > "$project/package.json"
  cat > "$project/check.cjs" << 'CHECK'
const memlock = require('memlock');
const fs = require('node:fs');
const path = require('node:path');
const dir = path.dirname(require.resolve('memlock/package.json'));
if (fs.existsSync(path.join(dir, 'build'))) throw new Error('memlock was built from source: ' + dir + '/build');
const prebuild = path.join(dir, 'prebuilds', `${process.platform}-${process.arch}`, 'memlock.node');
if (!fs.readFileSync('/proc/self/maps', 'utf8').includes(prebuild)) throw new Error('the addon loaded is not ' + prebuild);
const before = fs.readFileSync('/proc/self/status', 'utf8').match(/VmLck:\s+(\d+)/)[1];
const buffer = Buffer.alloc(4 * memlock.pageSize);
const lock = memlock.lock(buffer);
const after = fs.readFileSync('/proc/self/status', 'utf8').match(/VmLck:\s+(\d+)/)[1];
if (Number(after) - Number(before) < 16) throw new Error(`VmLck ${before} -> ${after} kB after locking 16 KiB`);
lock.release();
console.log(`node ${process.version}: memlock loaded ${path.relative(process.cwd(), prebuild)}; VmLck ${before} -> ${after} kB`);
CHECK
  echo "== Node $line: $("$bin/node" --version)"
  started=$SECONDS
  if (
    cd "$project"
    for tool in cc c++ gcc g++ make python python3; do
      if PATH="$tools" command -v "$tool" > /dev/null; then echo "test-tarball: $tool on PATH" >&2; exit 1; fi
    done
    env -u npm_config_build_from_source -u npm_config_nodedir PATH="$tools" HOME="$work/home" \
      npm_config_cache="${npm_config_cache:-$HOME/.npm}" \
      npm install --no-audit --no-fund --prefer-offline "$tarball" &&
      PATH="$tools" node check.cjs
  ); then result=pass; else result=FAIL; status=1; fi
  summary+=("Node $line: $result in $((SECONDS - started)) s")
done
printf '%s\n' "${summary[@]}"
exit "$status"
