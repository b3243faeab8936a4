#!/bin/sh
# clang-format over the native sources (.clang-format): `--check` fails on
# any file that is not formatted (npm run lint), else rewrites them (npm run
# format). clang-format comes from the system (apt-get install clang-format).
set -e
cd "$(dirname "$0")/.."
if ! command -v clang-format > /dev/null 2>&1; then
  echo "memlock: clang-format not found (apt-get install clang-format)" >&2
  exit 1
fi
files=$(git ls-files -co --exclude-standard 'native/*.cc' 'native/*.h' 'fuzz/*.cc' 'fuzz/*.h' 'test/native/*.cc' | sort -u)
if [ "$1" = "--check" ]; then
  # shellcheck disable=SC2086  # a list of paths without spaces
  clang-format --dry-run --Werror $files
else
  # shellcheck disable=SC2086
  clang-format -i $files
fi
