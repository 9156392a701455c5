import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Prebuilt bundles of the workspace's TypeScript entry points, so that a new thread or
 * process starts without the TypeScript loader: a worker thread that registers tsx
 * transpiles the whole core again (about a second of CPU per thread), while a bundle loads
 * in a tenth of that. Worker threads (contention workers, the explorer's CPUs, bench
 * pools) always start from one; the tests also spawn the CLI from one.
 *
 * `bundleOf(entry)` bundles the module `entry` with everything it imports (workspace
 * sources and npm packages) into one ES module under `node_modules/.cache/mmkit/bundles/`
 * and returns its URL. The file name carries a hash of every workspace source file, the
 * tsconfigs and the lockfile (which pins esbuild), so a change to any of them makes a new
 * bundle: a stale bundle is never run. The build (`bundle-build.mjs`, in a child process)
 * uses esbuild, the transpiler tsx uses, with the same tsconfig, and gives each source its
 * own `import.meta.url`, so the bundled code behaves as the loaded one. A bundle links to
 * its source map (`--enable-source-maps` maps stacks back to TypeScript lines).
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGES = join(ROOT, 'packages');
const CACHE = join(ROOT, 'node_modules', '.cache', 'mmkit', 'bundles');
/** Files outside `packages/<name>/src/` that change what a bundle contains. */
const BUILD_INPUTS = ['tsconfig.json', 'tsconfig.base.json', 'pnpm-lock.yaml'];
/** The script that builds one bundle (`bundle-build.mjs`). */
const BUILDER = fileURLToPath(new URL('./bundle-build.mjs', import.meta.url));

/**
 * Hash of the sources of the workspace at `root`: every file under `packages/<name>/src/`
 * (path and content) and the build inputs. Anything else (tests, docs) leaves it alone.
 */
export function sourcesHash(root: string): string {
  const hash = createHash('sha256');
  const files = BUILD_INPUTS.map((f) => join(root, f)).filter((f) => existsSync(f));
  const packages = join(root, 'packages');
  for (const name of readdirSync(packages).sort()) {
    const src = join(packages, name, 'src');
    if (existsSync(src)) files.push(...filesUnder(src));
  }
  for (const file of files) {
    hash.update(`${relative(root, file)}\n`);
    hash.update(readFileSync(file));
  }
  return hash.digest('hex').slice(0, 16);
}

let hashOfSources: string | undefined;

/** `sourcesHash` of this workspace, computed once per module instance. */
function currentHash(): string {
  hashOfSources ??= sourcesHash(ROOT);
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
 * URL of the bundle of `entry` (a `.ts` module under `packages/`) for the current sources,
 * built now if it does not exist yet. Older bundles of the same entry are removed.
 */
export function bundleOf(entry: URL): URL {
  const source = fileURLToPath(entry);
  const stem = relative(PACKAGES, source).replace(/\.ts$/, '').replace(/[\\/]/g, '-');
  const hash = currentHash();
  const out = join(CACHE, `${stem}.${hash}.mjs`);
  if (existsSync(out)) return pathToFileURL(out);
  mkdirSync(CACHE, { recursive: true });
  const r = spawnSync(process.execPath, [BUILDER, source, out, ROOT], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot bundle ${source}: ${r.error?.message ?? r.stderr}`);
  for (const old of readdirSync(CACHE)) {
    if (old.startsWith(`${stem}.`) && !old.startsWith(`${stem}.${hash}.`) && !old.endsWith('.tmp'))
      rmSync(join(CACHE, old), { force: true });
  }
  return pathToFileURL(out);
}
