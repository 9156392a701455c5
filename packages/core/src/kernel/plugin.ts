import type { Violation } from './check.ts';
import {
  HOOK_KINDS,
  HOT_HOOKS,
  type HookName,
  type HooksOfKind,
  type HotHookName,
  type KernelHooks,
  type KernelHookTable,
  NOOP_HOOK,
} from './hooks.ts';
import type { ServiceOverrides } from './services.ts';

/**
 * A plugin: a named object implementing any part of `KernelHooks`, with the hooks' own
 * types (no casts). Plugin classes are `@injectable()` and name the services they use as
 * constructor parameters (`@inject(FramesToken)`, ...), never the whole kernel.
 */
export type KernelPlugin = { readonly name: string } & Partial<KernelHooks>;

/** A plugin class and its options, as produced by factories like `cow()`. */
export interface PluginSpec<Options extends object = object> {
  readonly name: string;
  /** The injectable class; its constructor parameters are resolved by the kernel's container. */
  readonly pluginClass: new (
    // biome-ignore lint/suspicious/noExplicitAny: constructor parameters are resolved by the container.
    ...args: any[]
  ) => KernelPlugin;
  /** Options, registered in the kernel's container under `optionsToken`. */
  readonly options?: Options;
  readonly optionsToken?: symbol;
  /** The option names the plugin knows: any other option is an `InvalidConfig` error naming it. */
  readonly optionNames?: readonly string[];
  /** Services this plugin replaces, set up before the kernel boots (e.g. a lock protocol). */
  readonly services?: ServiceOverrides;
  /** Service tokens that the plugin instance itself provides once resolved (e.g. the fork strategy). */
  readonly provides?: readonly symbol[];
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

/** Any hook function, for the driver's one generic call site. */
type AnyHook = (...args: unknown[]) => unknown;

/**
 * Runs the hooks of the installed plugins. The list of plugins implementing a hook is
 * built once per hook name; hot hooks are bound once (`bindHot`).
 */
export class PluginDriver {
  private readonly plugins: KernelPlugin[] = [];
  private readonly cache = new Map<HookName, KernelPlugin[]>();

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

  /** The installed plugin named `name`, typed by the caller (e.g. `get<PageCachePlugin>('pagecache')`). */
  get<T extends KernelPlugin>(name: string): T | undefined {
    return this.plugins.find((p): p is T => p.name === name);
  }

  /** Plugins implementing `hook` (empty array when none). */
  with(hook: HookName): readonly KernelPlugin[] {
    let list = this.cache.get(hook);
    if (list === undefined) {
      list = this.plugins.filter((p) => typeof p[hook] === 'function');
      this.cache.set(hook, list);
    }
    return list;
  }

  /** Calls `hook` on each plugin in order until one returns something other than `undefined`. */
  first<H extends HooksOfKind<'first'>>(
    hook: H,
    ...args: Parameters<KernelHooks[H]>
  ): ReturnType<KernelHooks[H]> | undefined {
    for (const plugin of this.with(hook)) {
      const result = this.call(plugin, hook, args) as ReturnType<KernelHooks[H]> | undefined;
      if (result !== undefined) return result;
    }
    return undefined;
  }

  /** Calls `hook` on every plugin, in order. */
  each<H extends HooksOfKind<'each' | 'observe'>>(hook: H, ...args: Parameters<KernelHooks[H]>): void {
    for (const plugin of this.with(hook)) this.call(plugin, hook, args);
  }

  /** Runs every plugin's `check` hook, in order, and concatenates the violations. */
  collectViolations(): Violation[] {
    const out: Violation[] = [];
    for (const plugin of this.with('check')) {
      const list = this.call(plugin, 'check', []) as Violation[] | undefined;
      if (list !== undefined) out.push(...list);
    }
    return out;
  }

  /**
   * The hot hooks bound once: a no-op where no plugin has the hook, the plugin's own method
   * where one has, else a function running them in order (`first`: until a result).
   */
  bindHot(): KernelHookTable {
    const table: Partial<Record<HotHookName, AnyHook>> = {};
    for (const hook of HOT_HOOKS) table[hook] = this.bindOne(hook);
    return table as KernelHookTable;
  }

  private bindOne(hook: HotHookName): AnyHook {
    const fns = this.with(hook).map((p) => (p[hook] as AnyHook).bind(p));
    if (fns.length === 0) return NOOP_HOOK;
    if (fns.length === 1) return fns[0];
    if (HOOK_KINDS[hook] === 'first') {
      return (...args: unknown[]) => {
        for (const fn of fns) {
          const r = fn(...args);
          if (r !== undefined) return r;
        }
        return undefined;
      };
    }
    return (...args: unknown[]) => {
      for (const fn of fns) fn(...args);
    };
  }

  private call(plugin: KernelPlugin, hook: HookName, args: unknown[]): unknown {
    const fn = plugin[hook] as AnyHook;
    try {
      return fn.apply(plugin, args);
    } catch (e) {
      if (e instanceof PluginError) throw e;
      throw new PluginError(plugin.name, hook, e);
    }
  }
}
