// Builds one bundle for `bundle.ts` (run as `node bundle-build.mjs ENTRY OUT ROOT`; plain
// JavaScript, so it needs no loader). The asynchronous esbuild API is the one that takes
// plugins, and a separate process lets `bundleOf` stay synchronous. Every `import.meta.url`
// in a workspace source becomes that source's own URL, so that paths a module resolves from
// its location mean in the bundle what they mean when it is loaded from source. Files are
// written under a temporary name and renamed, so processes building the same bundle at
// once never see a partial file; the source map is renamed first, so whoever finds the
// bundle finds its map.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const [entry, out, root] = process.argv.slice(2);
const packages = join(root, 'packages');

/** @type {import('esbuild').Plugin} */
const ownUrls = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (!args.path.startsWith(packages)) return undefined;
      const text = readFileSync(args.path, 'utf8');
      return { contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};

const built = await build({
  entryPoints: [entry],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  tsconfig: join(root, 'tsconfig.json'),
  plugins: [ownUrls],
  // CommonJS packages in the bundle (commander) require Node's built-in modules.
  banner: { js: "import { createRequire as bundleCreateRequire } from 'node:module';\nconst require = bundleCreateRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'error',
  write: false,
});
const isMap = (f) => f.path.endsWith('.map');
for (const file of [...built.outputFiles.filter(isMap), ...built.outputFiles.filter((f) => !isMap(f))]) {
  const partial = `${file.path}.${process.pid}.tmp`;
  writeFileSync(partial, file.contents);
  renameSync(partial, file.path);
}
