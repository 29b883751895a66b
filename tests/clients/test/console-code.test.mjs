// The console's code, checked without a browser: every GraphQL document it sends is valid
// against schema.graphql (an API change that breaks the console fails here), its JavaScript
// type-checks with TypeScript (tsc --noEmit over JSDoc types), the vendored library is exactly
// the npm packages' files, and nothing in it loads from another origin or parses HTML.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSchema, parse, validate, Kind } from 'graphql';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLIENTS = join(HERE, '..');
const ROOT = join(CLIENTS, '..', '..');
const CONSOLE = join(ROOT, 'api', 'assets', 'console');
const require = createRequire(import.meta.url);

/** Every file under `dir`, as paths relative to it. */
function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path).map((p) => join(name, p)) : [name];
  });
}

const own = files(CONSOLE).filter((f) => f.endsWith('.js') && !f.startsWith('vendor'));

describe('console code', () => {
  it('sends only documents that are valid against schema.graphql', async () => {
    const schema = buildSchema(readFileSync(join(ROOT, 'schema.graphql'), 'utf8'));
    const documents = await import(join(CONSOLE, 'queries.js'));
    const names = Object.keys(documents);
    assert.ok(names.length >= 15, `only ${names.length} documents exported`);
    const operations = new Set();
    for (const name of names) {
      const text = documents[name];
      assert.equal(typeof text, 'string', `${name} is not a document`);
      const doc = parse(text);
      const errors = validate(schema, doc);
      assert.deepEqual(errors.map((e) => e.message), [], `${name} is invalid against schema.graphql`);
      const ops = doc.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
      assert.equal(ops.length, 1, `${name} holds ${ops.length} operations`);
      assert.ok(ops[0].name, `${name}'s operation has no name`);
      assert.ok(!operations.has(ops[0].name.value), `operation ${ops[0].name.value} is defined twice`);
      operations.add(ops[0].name.value);
    }
    // Every document is used, and none is written anywhere else.
    const sources = own.filter((f) => f !== 'queries.js').map((f) => readFileSync(join(CONSOLE, f), 'utf8'));
    for (const name of names) {
      assert.ok(sources.some((s) => new RegExp(`\\b${name}\\b`).test(s)), `${name} is never used`);
    }
    for (const f of own.filter((f) => f !== 'queries.js')) {
      const text = readFileSync(join(CONSOLE, f), 'utf8');
      assert.ok(!/\/\* GraphQL \*\/|\b(query|mutation|subscription)\s+[A-Z]\w*\s*[({]/.test(text), `${f} holds a GraphQL document: keep them in queries.js`);
    }
  });

  it('type-checks with tsc --noEmit', () => {
    const tsc = require.resolve('typescript/bin/tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', join(CLIENTS, 'tsconfig.console.json')], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      assert.fail(`tsc found errors:\n${e.stdout}${e.stderr}`);
    }
  });

  it('vendors exactly the npm packages it names', () => {
    const strip = (s) => s.replace(/\n?\/\/# sourceMappingURL=.*\n?$/m, '\n').replace(/\n+$/, '\n');
    const pkg = (name) => join(CLIENTS, 'node_modules', name);
    const pairs = [
      ['preact.js', strip(readFileSync(join(pkg('preact'), 'dist', 'preact.module.js'), 'utf8'))],
      ['hooks.js', strip(readFileSync(join(pkg('preact'), 'hooks', 'dist', 'hooks.module.js'), 'utf8').replace('from"preact"', 'from"./preact.js"'))],
      ['htm.js', readFileSync(join(pkg('htm'), 'dist', 'htm.module.js'), 'utf8')],
    ];
    for (const [file, expected] of pairs) {
      const vendored = readFileSync(join(CONSOLE, 'vendor', file), 'utf8');
      assert.equal(strip(vendored), strip(expected), `vendor/${file} differs from the npm package (see vendor/README.md)`);
    }
    const readme = readFileSync(join(CONSOLE, 'vendor', 'README.md'), 'utf8');
    for (const name of ['preact', 'htm']) {
      const { version } = JSON.parse(readFileSync(join(pkg(name), 'package.json'), 'utf8'));
      assert.ok(readme.includes(`${name}@${version}`), `vendor/README.md does not name ${name}@${version}`);
    }
  });

  it('loads nothing from another origin and never parses HTML', () => {
    for (const f of files(CONSOLE)) {
      if (!/\.(js|css|html)$/.test(f)) continue;
      const text = readFileSync(join(CONSOLE, f), 'utf8');
      const where = relative(ROOT, join(CONSOLE, f));
      assert.ok(!/https?:\/\/(?!www\.w3\.org\/)/.test(text) || f.startsWith('vendor'), `${where} names another origin`);
      if (f.startsWith('vendor')) continue;
      assert.ok(!/innerHTML|outerHTML|insertAdjacentHTML|dangerouslySetInnerHTML|document\.write|\beval\(|new Function/.test(text), `${where} uses an HTML or code sink`);
      assert.ok(!/<script>|\sstyle="|\son[a-z]+="/.test(text), `${where} has inline script or style`);
    }
  });
});
