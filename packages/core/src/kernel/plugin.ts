import type { Kernel } from './kernel.ts';

/**
 * Plugins: named injectable classes that hook into named points of the core.
 *
 * Every hook is optional. The core runs hooks through `PluginDriver` in one of two ways:
 * `first` (the first plugin returning something other than `undefined` wins; used where a
 * plugin takes a job over, e.g. `fork`), or `each` (every plugin in order). A hook that throws
 * is reported as a `PluginError` naming the plugin and the hook.
 */
export interface KernelPlugin {
  /** Unique name, e.g. `cow`, `recycle`, `pagecache`. */
  readonly name: string;
  /** Called once when the kernel is composed, in plugin-list order. */
  install?(kernel: Kernel): void;
}

/** A plugin class and its options, as produced by factories like `cow()`. */
export interface PluginSpec<Options = unknown> {
  readonly name: string;
  /** The injectable class; its constructor parameters are resolved by the kernel's container. */
  readonly pluginClass: new (
    // biome-ignore lint/suspicious/noExplicitAny: constructor parameters are resolved by the container.
    ...args: any[]
  ) => KernelPlugin;
  /** Options, registered in the kernel's container under `optionsToken`. */
  readonly options?: Options;
  readonly optionsToken?: symbol;
}

export class PluginError extends Error {
  constructor(
    readonly plugin: string,
    readonly hook: string,
    override readonly cause: unknown,
  ) {
    super(
      `plugin '${plugin}' failed in hook '${hook}': ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = 'PluginError';
  }
}

type HookFn = (...args: never[]) => unknown;

/** Runs the hooks of the installed plugins. Hook lists are plain arrays built once per name. */
export class PluginDriver {
  private readonly plugins: KernelPlugin[] = [];
  private readonly cache = new Map<string, KernelPlugin[]>();

  add(plugin: KernelPlugin): void {
    if (this.plugins.some((p) => p.name === plugin.name)) {
      throw new PluginError(
        plugin.name,
        'install',
        new Error('a plugin with this name is already installed'),
      );
    }
    this.plugins.push(plugin);
    this.cache.clear();
  }

  get names(): string[] {
    return this.plugins.map((p) => p.name);
  }

  has(name: string): boolean {
    return this.plugins.some((p) => p.name === name);
  }

  get<T extends KernelPlugin>(name: string): T | undefined {
    return this.plugins.find((p) => p.name === name) as T | undefined;
  }

  /** Plugins implementing `hook` (empty array when none: hot paths test `.length`). */
  with(hook: string): readonly KernelPlugin[] {
    let list = this.cache.get(hook);
    if (list === undefined) {
      list = this.plugins.filter(
        (p) => typeof (p as unknown as Record<string, unknown>)[hook] === 'function',
      );
      this.cache.set(hook, list);
    }
    return list;
  }

  /** Calls `hook` on each plugin in order until one returns something other than `undefined`. */
  first<R>(hook: string, ...args: unknown[]): R | undefined {
    for (const plugin of this.with(hook)) {
      const result = this.call(plugin, hook, args);
      if (result !== undefined) return result as R;
    }
    return undefined;
  }

  /** Calls `hook` on every plugin, in order. */
  each(hook: string, ...args: unknown[]): void {
    for (const plugin of this.with(hook)) this.call(plugin, hook, args);
  }

  private call(plugin: KernelPlugin, hook: string, args: unknown[]): unknown {
    const fn = (plugin as unknown as Record<string, HookFn>)[hook];
    try {
      return (fn as (...a: unknown[]) => unknown).apply(plugin, args);
    } catch (e) {
      if (e instanceof PluginError) throw e;
      throw new PluginError(plugin.name, hook, e);
    }
  }
}
