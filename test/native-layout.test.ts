// The native tree's rules that a compiler does not check (native/README.md):
// each layer includes only what its folder allows; node-addon-api is
// included in one place, which sets the exception rule (no C++ exception
// crosses the N-API boundary: native/binding/addon_api.h); every source is
// in the one list the builds read.
// test-tier: quick
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';

const root = path.join(__dirname, '..');
const native = path.join(root, 'native');
const sources = readdirSync(native, { recursive: true, encoding: 'utf8' })
  .filter((name) => /\.(cc|h)$/.test(name))
  .sort();
const read = (file: string) => readFileSync(path.join(native, file), 'utf8');
const includes = (file: string) =>
  [...read(file).matchAll(/^#include\s*([<"])([^>"]+)[>"]/gm)].map((m) => ({ system: m[1] === '<', path: m[2]! }));

// What each layer's files may include from native/ (besides their own folder).
const ALLOWED: Record<string, (include: string) => boolean> = {
  core: (i) => ['platform/platform.h', 'platform/madvise_hook.h'].includes(i),
  platform: (i) => ['core/shared_numbers.h', 'core/working_set.h'].includes(i),
  paging: (i) => i === 'core/shared_numbers.h',
  binding: (i) => !i.startsWith('testing/') || i === 'testing/test_hooks.h',
  testing: () => true,
};

t.test('every source file is in a layer folder', (t) => {
  t.same(
    sources.filter((file) => !(file.split('/')[0]! in ALLOWED)),
    [],
  );
  t.end();
});

t.test('each layer includes only what its folder allows', (t) => {
  for (const file of sources) {
    const layer = file.split('/')[0]!;
    const own = (i: string) => i.startsWith(`${layer}/`);
    const bad = includes(file)
      .filter((i) => !i.system && !own(i.path) && !ALLOWED[layer]!(i.path))
      .map((i) => i.path);
    t.same(bad, [], `${file}: ${layer}/ may not include these`);
  }
  t.end();
});

t.test('node headers only where the layer allows them', (t) => {
  const napi = sources.filter((file) => includes(file).some((i) => i.path === 'napi.h'));
  t.same(napi, ['binding/addon_api.h'], 'napi.h: only native/binding/addon_api.h');
  const node = sources.filter((file) =>
    includes(file).some((i) => i.system && (i.path === 'node_api.h' || i.path === 'js_native_api.h')),
  );
  t.same(node, [], 'node_api.h: nowhere directly (napi.h brings it to binding/)');
  const uv = sources
    .filter((file) => includes(file).some((i) => i.path === 'uv.h'))
    .filter((file) => !/^(paging|binding)\//.test(file));
  t.same(uv, [], 'uv.h: paging/ and binding/ only');
  t.end();
});

t.test('every .cc is in native/sources.json, and every listed file exists', (t) => {
  const groups = JSON.parse(readFileSync(path.join(native, 'sources.json'), 'utf8')) as Record<
    string,
    string[] | string
  >;
  const listed = new Set(
    Object.entries(groups)
      .filter(([name]) => name !== '//')
      .flatMap(([, files]) => files as string[]),
  );
  const cc = sources.filter((file) => file.endsWith('.cc')).map((file) => `native/${file}`);
  t.same(
    cc.filter((file) => !listed.has(file)),
    [],
    'no source left out',
  );
  t.same(
    [...listed].filter((file) => !cc.includes(file)),
    [],
    'no source listed that is not there',
  );
  t.end();
});

t.test('addon_api.h sets the exception rule before it includes napi.h', (t) => {
  const text = read('binding/addon_api.h');
  const include = text.indexOf('#include <napi.h>');
  for (const macro of ['NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS', 'NODE_ADDON_API_CPP_EXCEPTIONS_ALL']) {
    const defined = text.indexOf(`#define ${macro}`);
    t.ok(defined >= 0 && defined < include, `${macro} is defined before napi.h`);
  }
  t.end();
});

t.test('raw callbacks and finalizers handed to N-API go through the no-throw wrappers', (t) => {
  const raw = sources
    .filter((file) => file.startsWith('binding/'))
    .flatMap((file) => [...read(file).matchAll(/RawFunction\(env, "\w+", (\w+)(<\w+>)?, state\)/g)]);
  t.ok(raw.length >= 4, 'the hot calls are raw callbacks');
  for (const [call, wrapper] of raw) t.equal(wrapper, 'Guarded', call);
  for (const file of ['binding/secrets.cc', 'binding/pinned.cc']) {
    const text = read(file);
    for (const [call] of text.matchAll(/WrapOwnedMemory\([^;]*;/g))
      t.match(call, /GuardedFinalize</, `${file}: ${call.slice(0, 60)}`);
  }
  t.end();
});
