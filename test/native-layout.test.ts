// The native tree's rules that a compiler does not check: node-addon-api is
// included in one place, which sets the exception rule (no C++ exception
// crosses the N-API boundary: native/addon_api.h).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';

const native = path.join(__dirname, '..', 'native');
const sources = readdirSync(native).filter((name) => /\.(cc|h)$/.test(name));

t.test('napi.h is included only by native/addon_api.h', (t) => {
  const including = sources.filter((name) => /#include\s*[<"]napi\.h[>"]/.test(readFileSync(path.join(native, name), 'utf8')));
  t.same(including, ['addon_api.h']);
  t.end();
});

t.test('addon_api.h sets the exception rule before it includes napi.h', (t) => {
  const text = readFileSync(path.join(native, 'addon_api.h'), 'utf8');
  const include = text.indexOf('#include <napi.h>');
  for (const macro of ['NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS', 'NODE_ADDON_API_CPP_EXCEPTIONS_ALL']) {
    const defined = text.indexOf(`#define ${macro}`);
    t.ok(defined >= 0 && defined < include, `${macro} is defined before napi.h`);
  }
  t.end();
});

t.test('raw callbacks and finalizers handed to N-API go through the no-throw wrappers', (t) => {
  const binding = readFileSync(path.join(native, 'binding.cc'), 'utf8');
  const raw = [...binding.matchAll(/RawFunction\(env, "\w+", (\w+)(<\w+>)?, state\)/g)];
  t.ok(raw.length >= 4, 'the hot calls are raw callbacks');
  for (const [call, wrapper] of raw) t.equal(wrapper, 'Guarded', call);
  for (const file of ['binding.cc', 'pinned_binding.cc']) {
    const text = readFileSync(path.join(native, file), 'utf8');
    for (const [call] of text.matchAll(/WrapOwnedMemory\([^;]*;/g)) t.match(call, /GuardedFinalize</, `${file}: ${call.slice(0, 60)}`);
  }
  t.end();
});
