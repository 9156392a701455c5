import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LAYOUT_NAMES } from '@mmkit/core';
import { ARCH_NAMES, UsageError } from '../archs.ts';
import { ALL_PLUGIN_NAMES, DEFAULT_PLUGINS, PLUGINS } from '../plugins.ts';
import { parseSize } from '../units.ts';
import { WORKLOADS } from './workloads/index.ts';

/** A validated `mmkit run` configuration. */
export interface RunConfig {
  arch: string;
  /** Bytes of physical memory. */
  memory: number;
  layout: string;
  plugins: { name: string; options: Record<string, unknown> }[];
  /** A built-in workload name or the path of an mmtrace. */
  workload: string;
  /** Scale of a built-in workload (1 = the default size). */
  scale: number;
  seed: number;
  /** Threads of a threaded workload's process (1 to `MAX_THREADS`). */
  threads: number;
  /** A threaded workload's faults take per-VMA locks (Linux 6.4) instead of the `mmap_lock`. */
  perVmaLocks: boolean;
}

/** The most threads `threads` may ask for. */
export const MAX_THREADS = 64;

/** What `mmkit run` does with no arguments: x86_64, 1 GiB, every plugin, the server workload. */
export const DEFAULT_CONFIG: RunConfig = {
  arch: 'x86_64',
  memory: 2 ** 30,
  layout: 'soa',
  plugins: DEFAULT_PLUGINS.map((name) => ({ name, options: {} })),
  workload: 'server',
  scale: 1,
  seed: 1,
  threads: 1,
  perVmaLocks: false,
};

const FIELDS = ['arch', 'memory', 'layout', 'plugins', 'workload', 'scale', 'seed', 'threads', 'perVmaLocks'];

function bad(path: string, field: string, message: string): never {
  throw new UsageError(`${path}: ${field}: ${message}`);
}

/** Validates a parsed configuration object; `path` names its source in errors. */
export function validateConfig(raw: unknown, path: string): RunConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    bad(path, '(top level)', 'expected a JSON object');
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!FIELDS.includes(key)) bad(path, key, `unknown field (known: ${FIELDS.join(', ')})`);
  }
  const config: RunConfig = { ...DEFAULT_CONFIG, plugins: [...DEFAULT_CONFIG.plugins] };
  if (obj.arch !== undefined) {
    if (typeof obj.arch !== 'string' || !ARCH_NAMES.includes(obj.arch))
      bad(path, 'arch', `expected one of ${ARCH_NAMES.join(', ')}`);
    config.arch = obj.arch;
  }
  if (obj.memory !== undefined) {
    if (typeof obj.memory === 'number') {
      if (!Number.isSafeInteger(obj.memory) || obj.memory <= 0) {
        bad(path, 'memory', 'expected a positive whole number of bytes');
      }
      config.memory = obj.memory;
    } else if (typeof obj.memory === 'string') {
      try {
        config.memory = parseSize(obj.memory);
      } catch (e) {
        bad(path, 'memory', (e as Error).message);
      }
    } else {
      bad(path, 'memory', 'expected a size like "1GiB"');
    }
  }
  if (obj.layout !== undefined) {
    if (typeof obj.layout !== 'string' || !LAYOUT_NAMES.includes(obj.layout as never)) {
      bad(path, 'layout', `expected one of ${LAYOUT_NAMES.join(', ')}`);
    }
    config.layout = obj.layout;
  }
  if (obj.plugins !== undefined) {
    if (!Array.isArray(obj.plugins))
      bad(path, 'plugins', 'expected an array of plugin names or {"name", "options"} objects');
    config.plugins = obj.plugins.map((p, i) => {
      const where = `plugins[${i}]`;
      const entry = typeof p === 'string' ? { name: p, options: {} } : p;
      if (entry === null || typeof entry !== 'object' || typeof entry.name !== 'string') {
        bad(path, where, 'expected a plugin name or {"name": …, "options": {…}}');
      }
      if (!ALL_PLUGIN_NAMES.includes(entry.name))
        bad(path, where, `unknown plugin '${entry.name}' (known: ${ALL_PLUGIN_NAMES.join(', ')})`);
      const options = entry.options ?? {};
      if (options === null || typeof options !== 'object' || Array.isArray(options))
        bad(path, `${where}.options`, 'expected an object');
      try {
        PLUGINS[entry.name](options);
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        bad(path, `${where}.options`, e.message);
      }
      return { name: entry.name, options };
    });
  }
  if (obj.workload !== undefined) {
    if (typeof obj.workload !== 'string' || obj.workload === '')
      bad(path, 'workload', 'expected a workload name or a trace path');
    config.workload = obj.workload;
  }
  if (obj.scale !== undefined) {
    if (typeof obj.scale !== 'number' || !(obj.scale > 0) || obj.scale > 1024)
      bad(path, 'scale', 'expected a number in (0, 1024]');
    config.scale = obj.scale;
  }
  if (obj.seed !== undefined) {
    if (!Number.isSafeInteger(obj.seed)) bad(path, 'seed', 'expected an integer');
    config.seed = obj.seed as number;
  }
  if (obj.threads !== undefined) {
    if (
      !Number.isSafeInteger(obj.threads) ||
      (obj.threads as number) < 1 ||
      (obj.threads as number) > MAX_THREADS
    )
      bad(path, 'threads', `expected a whole number of threads from 1 to ${MAX_THREADS}`);
    config.threads = obj.threads as number;
  }
  if (obj.perVmaLocks !== undefined) {
    if (typeof obj.perVmaLocks !== 'boolean') bad(path, 'perVmaLocks', 'expected true or false');
    config.perVmaLocks = obj.perVmaLocks;
  }
  return config;
}

/**
 * Reads and validates a JSON configuration file. Relative paths in it (a trace given as the
 * workload, the page cache's store directory) are taken from the file's folder, as the file
 * means them wherever it is used from.
 */
export function loadConfig(path: string): RunConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(
      `${path}: cannot read the configuration (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return resolvePaths(validateConfig(raw, path), dirname(path));
}

/** `config` with its relative paths resolved from `folder`. */
function resolvePaths(config: RunConfig, folder: string): RunConfig {
  if (WORKLOADS[config.workload] === undefined) config.workload = resolve(folder, config.workload);
  config.plugins = config.plugins.map((p) => {
    const store = p.options.store as { dir?: unknown } | undefined;
    if (
      p.name !== 'pagecache' ||
      typeof store !== 'object' ||
      store === null ||
      typeof store.dir !== 'string'
    )
      return p;
    return { ...p, options: { ...p.options, store: { ...store, dir: resolve(folder, store.dir) } } };
  });
  return config;
}

/** Command-line flags that override a configuration's fields (`--arch`, `--memory`, `--layout`, `--seed`, `--threads`). */
export interface ConfigFlags {
  arch?: string;
  memory?: string;
  layout?: string;
  seed?: string;
  threads?: string;
}

/**
 * `config` with the fields given as flags replaced, each validated as in a config file
 * (errors read `command line: memory: …`).
 */
export function applyFlags(config: RunConfig, flags: ConfigFlags): RunConfig {
  const raw: Record<string, unknown> = {};
  if (flags.arch !== undefined) raw.arch = flags.arch;
  if (flags.memory !== undefined) raw.memory = flags.memory;
  if (flags.layout !== undefined) raw.layout = flags.layout;
  if (flags.seed !== undefined)
    raw.seed = /^-?\d+$/.test(flags.seed.trim()) ? Number(flags.seed) : flags.seed;
  if (flags.threads !== undefined)
    raw.threads = /^-?\d+$/.test(flags.threads.trim()) ? Number(flags.threads) : flags.threads;
  const checked = validateConfig(raw, 'command line');
  const out = { ...config };
  for (const key of Object.keys(raw) as (keyof ConfigFlags)[])
    (out as Record<string, unknown>)[key] = checked[key];
  return out;
}
