import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildSync, version as esbuildVersion } from 'esbuild';

/**
 * Worker threads start from a prebuilt bundle, not through the TypeScript loader: a worker
 * that registers tsx transpiles the whole core again in its own thread (about a second of
 * CPU per worker), while a bundle loads in a tenth of that.
 *
 * `workerBundle(entry)` bundles the TypeScript module `entry` with everything it imports
 * (workspace sources and npm packages) into one ES module under
 * `node_modules/.cache/mmkit/workers/` and returns its URL. The file name carries a hash of
 * every workspace source file, the tsconfigs, the lockfile and the esbuild version, so a
 * change to any of them makes a new bundle: a stale bundle is never run. esbuild is the
 * transpiler tsx uses, with the same tsconfig, so the bundled code behaves as the loaded one.
 * Bundles are written under a temporary name and renamed, so processes building the same
 * bundle at once (test workers) never see a partial file. The bundle links to a source map
 * (`--enable-source-maps` turns worker stacks back into TypeScript lines).
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CACHE = join(ROOT, 'node_modules', '.cache', 'mmkit', 'workers');
/** Files outside `packages/<name>/src/` that change what a bundle contains. */
const BUILD_INPUTS = ['tsconfig.json', 'tsconfig.base.json', 'pnpm-lock.yaml'];

let hashOfSources: string | undefined;

/** Hash of the workspace's sources and build inputs, computed once per module instance. */
function sourcesHash(): string {
  if (hashOfSources !== undefined) return hashOfSources;
  const hash = createHash('sha256').update(`esbuild ${esbuildVersion}\n`);
  const files = BUILD_INPUTS.map((f) => join(ROOT, f));
  const packages = join(ROOT, 'packages');
  for (const name of readdirSync(packages).sort()) {
    const src = join(packages, name, 'src');
    if (existsSync(src)) files.push(...filesUnder(src));
  }
  for (const file of files) {
    hash.update(`${relative(ROOT, file)}\n`);
    hash.update(readFileSync(file));
  }
  hashOfSources = hash.digest('hex').slice(0, 16);
  return hashOfSources;
}

/** Every file under `dir`, recursively, in a stable order. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/**
 * URL of the bundle of `entry` (a `.ts` module of the workspace) for the current sources,
 * built now if it does not exist yet. Older bundles of the same entry are removed.
 */
export function workerBundle(entry: URL): URL {
  const source = fileURLToPath(entry);
  const stem = relative(join(ROOT, 'packages'), source).replace(/\.ts$/, '').replace(/[\\/]/g, '-');
  const out = join(CACHE, `${stem}.${sourcesHash()}.mjs`);
  if (!existsSync(out)) {
    const built = buildSync({
      entryPoints: [source],
      outfile: out,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      tsconfig: join(ROOT, 'tsconfig.json'),
      sourcemap: 'linked',
      logLevel: 'silent',
      write: false,
    });
    mkdirSync(CACHE, { recursive: true });
    // The map first: a process that finds the bundle finds its map.
    const isMap = (f: { path: string }) => f.path.endsWith('.map');
    for (const file of [...built.outputFiles.filter(isMap), ...built.outputFiles.filter((f) => !isMap(f))]) {
      const partial = `${file.path}.${process.pid}.tmp`;
      writeFileSync(partial, file.contents);
      renameSync(partial, file.path);
    }
    for (const old of readdirSync(CACHE)) {
      if (old.startsWith(`${stem}.`) && !old.startsWith(`${stem}.${sourcesHash()}.`) && !old.endsWith('.tmp'))
        rmSync(join(CACHE, old), { force: true });
    }
  }
  return pathToFileURL(out);
}
