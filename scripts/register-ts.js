// `node -r ./scripts/register-ts.js some.ts` runs this repo's TypeScript sources as they are, with no
// build: the child processes of the crash and shutdown tests, the spy's node:test run and the inbox
// overhead script use it, so they never run a stale dist/. @eventport/* resolves to
// packages/*/src/index.ts, as in jest.
const Module = require('node:module');
const fs = require('node:fs');
const path = require('node:path');
const { transformSync } = require('@swc/core');

const packagesDir = path.resolve(__dirname, '..', 'packages');
const resolveFilename = Module._resolveFilename;

Module._resolveFilename = function resolveSources(request, parent, ...rest) {
  const scoped = /^@eventport\/([^/]+)$/.exec(request);
  if (scoped) {
    const source = path.join(packagesDir, scoped[1], 'src', 'index.ts');
    if (fs.existsSync(source)) return source;
  }
  // Sources import siblings as './x.js' (Node16 resolution); the .ts beside it is the one to load.
  if (request.startsWith('.') && request.endsWith('.js') && parent?.filename) {
    const source = path.resolve(path.dirname(parent.filename), `${request.slice(0, -3)}.ts`);
    if (fs.existsSync(source)) return source;
  }
  return resolveFilename.call(this, request, parent, ...rest);
};

require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  });
  module._compile(code, filename);
};
