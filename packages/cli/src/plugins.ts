import type { PluginSpec } from '@mmkit/core';
import {
  buddy,
  cow,
  lockGlobal,
  lockSubtree,
  type PageCacheOptions,
  pageCache,
  pageTableRecycling,
} from '@mmkit/plugins';
import { UsageError } from './archs.ts';

/**
 * Plugin factories by the names the CLI and config files use. Mechanisms (`cow`, `recycle`,
 * `pagecache`) come first, then plugins that replace a kernel service: the lock protocol
 * (`lock-subtree`, `lock-global`; at most one) and, when it exists, the frame allocator
 * (`buddy`), registered here under its name like the others.
 */
export const PLUGINS: Readonly<Record<string, (options?: Record<string, unknown>) => PluginSpec>> = {
  cow: (options) => withoutOptions('cow', options ?? {}, cow),
  recycle: (options) => withoutOptions('recycle', options ?? {}, pageTableRecycling),
  buddy: (options) => withoutOptions('buddy', options ?? {}, buddy),
  pagecache: (options) => pageCache(pageCacheOptions(options ?? {})),
  'lock-subtree': () => lockSubtree(),
  'lock-global': () => lockGlobal(),
};

/** The spec of a plugin that takes no options: any field is an error, as for `pagecache`. */
function withoutOptions(
  name: string,
  options: Record<string, unknown>,
  factory: () => PluginSpec,
): PluginSpec {
  const keys = Object.keys(options);
  if (keys.length > 0)
    throw new UsageError(`${name} options: unknown field '${keys[0]}' (${name} takes no options)`);
  return factory();
}

/** Validates the page cache's options from a config file: `{"store": "memory"}` or `{"store": {"dir": PATH}}`. */
function pageCacheOptions(options: Record<string, unknown>): PageCacheOptions {
  for (const key of Object.keys(options)) {
    if (key !== 'store') throw new UsageError(`pagecache options: unknown field '${key}' (known: store)`);
  }
  const store = options.store;
  if (store === undefined || store === 'memory') return { store: 'memory' };
  if (store !== null && typeof store === 'object' && typeof (store as { dir?: unknown }).dir === 'string') {
    return { store: { dir: (store as { dir: string }).dir } };
  }
  throw new UsageError('pagecache options: store must be "memory" or {"dir": "PATH"}');
}

/** Every name `--plugins` and config files accept. */
export const ALL_PLUGIN_NAMES = Object.keys(PLUGINS);

/** The plugins a kernel gets when none are named: the mechanisms every sample trace uses. */
export const DEFAULT_PLUGINS: readonly string[] = ['cow', 'recycle', 'pagecache'];

/** Specs for a list of plugin names (e.g. from `--plugins cow,recycle`); unknown names are a usage error. */
export function pluginSpecs(
  names: readonly string[],
  options: Record<string, Record<string, unknown>> = {},
): PluginSpec[] {
  const seen = new Set<string>();
  return names.map((name) => {
    const factory = PLUGINS[name];
    if (factory === undefined)
      throw new UsageError(`unknown plugin '${name}' (known: ${ALL_PLUGIN_NAMES.join(', ')})`);
    if (seen.has(name)) throw new UsageError(`plugin '${name}' is listed twice`);
    seen.add(name);
    return factory(options[name]);
  });
}

/**
 * Parses a comma-separated plugin list; `none` means no plugin. An empty list (`''`, `','`)
 * is a usage error, so that a variable that expanded to nothing is not taken for `none`.
 */
export function parsePluginList(text: string): string[] {
  if (text.trim() === 'none') return [];
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 0)
    throw new UsageError(
      `--plugins: empty list (write 'none' for no plugin, or some of ${DEFAULT_PLUGINS.join(', ')})`,
    );
  return names;
}

/** The `--plugins` option text shared by the commands. */
export const PLUGINS_OPTION_HELP = `comma-separated plugins (${ALL_PLUGIN_NAMES.join(', ')}; default ${DEFAULT_PLUGINS.join(',')}), or none`;
