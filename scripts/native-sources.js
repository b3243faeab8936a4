#!/usr/bin/env node
// Prints the native sources of the groups named (native/sources.json), one
// per line: binding.gyp expands it with <!@(...), the build scripts read it.
// A group that does not exist is an error, so a typo cannot drop sources.
'use strict';
const path = require('node:path');
const groups = require(path.join(__dirname, '..', 'native', 'sources.json'));
const names = process.argv.slice(2);
const missing = names.filter((name) => name === '//' || !Array.isArray(groups[name]));
if (names.length === 0 || missing.length > 0) {
  console.error(
    `native-sources: unknown group(s) ${missing.join(', ') || '(none given)'}; groups: ${Object.keys(groups)
      .filter((n) => n !== '//')
      .join(', ')}`,
  );
  process.exit(2);
}
console.log([...new Set(names.flatMap((name) => groups[name]))].join('\n'));
