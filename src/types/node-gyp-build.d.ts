// node-gyp-build ships no types. The addon it loads is unknown until
// src/binding.ts has checked its shape.
declare module 'node-gyp-build' {
  function load(dir: string): unknown;
  export = load;
}
