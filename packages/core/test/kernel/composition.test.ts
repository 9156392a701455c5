import { x86_64 } from '@mmkit/arch-x86_64';
import {
  createKernel,
  type Kernel,
  type KernelPlugin,
  KernelToken,
  PluginDriver,
  PluginError,
  type PluginSpec,
} from '@mmkit/core';
import { inject, injectable } from 'tsyringe';
import { describe, expect, it } from 'vitest';

@injectable()
class CountingPlugin implements KernelPlugin {
  readonly name = 'counting';
  installs = 0;
  constructor(@inject(KernelToken) readonly kernel: Kernel) {}
  install(): void {
    this.installs++;
  }
}

const BrokenOptions = Symbol('BrokenOptions');

@injectable()
class BrokenPlugin implements KernelPlugin {
  readonly name = 'broken';
  constructor(@inject(BrokenOptions) readonly options: { when: string }) {}
  install(): void {
    if (this.options.when === 'install') throw new Error('boom');
  }
}

const counting = (): PluginSpec => ({ name: 'counting', pluginClass: CountingPlugin });
const broken = (when: string): PluginSpec => ({
  name: 'broken',
  pluginClass: BrokenPlugin,
  options: { when },
  optionsToken: BrokenOptions,
});

describe('kernel composition', () => {
  it('resolves plugins in a container per kernel: two kernels share nothing', () => {
    const a = createKernel({ arch: x86_64, memory: 16 << 20, plugins: [counting()] });
    const b = createKernel({ arch: x86_64, memory: 16 << 20, plugins: [counting()] });
    const pa = a.plugins.get<CountingPlugin>('counting');
    const pb = b.plugins.get<CountingPlugin>('counting');
    expect(pa).toBeDefined();
    expect(pa).not.toBe(pb);
    expect(pa?.kernel).toBe(a);
    expect(pb?.kernel).toBe(b);
    expect(pa?.installs).toBe(1);
    expect(a.container).not.toBe(b.container);
    expect(a.container.resolve(KernelToken)).toBe(a);
  });

  it('reports a failing plugin with its name and hook', () => {
    expect(() => createKernel({ arch: x86_64, memory: 16 << 20, plugins: [broken('install')] })).toThrow(
      /plugin 'broken' failed in hook 'install': boom/,
    );
    const failure = (spec: PluginSpec): PluginError => {
      try {
        createKernel({ arch: x86_64, memory: 16 << 20, plugins: [spec] });
      } catch (e) {
        if (e instanceof PluginError) return e;
        throw e;
      }
      throw new Error('the kernel was composed');
    };
    const atInstall = failure(broken('install'));
    expect([atInstall.plugin, atInstall.hook, (atInstall.cause as Error).message]).toEqual([
      'broken',
      'install',
      'boom',
    ]);
    // Without its options token registered, the plugin cannot be constructed.
    const atConstruction = failure({ name: 'broken', pluginClass: BrokenPlugin });
    expect([atConstruction.plugin, atConstruction.hook]).toEqual(['broken', 'constructor']);
    // The options reach the plugin through its token: with another value it installs.
    const k = createKernel({ arch: x86_64, memory: 16 << 20, plugins: [broken('never')] });
    expect(k.plugins.get<BrokenPlugin>('broken')?.options).toEqual({ when: 'never' });
    expect(() => createKernel({ arch: x86_64, memory: 16 << 20, plugins: [counting(), counting()] })).toThrow(
      /already installed/,
    );
    expect(() => createKernel({ arch: x86_64, plugins: [{} as PluginSpec] })).toThrow(/InvalidConfig/);
  });

  it('runs hooks first-wins or each-in-order', () => {
    const driver = new PluginDriver();
    const calls: string[] = [];
    driver.add({ name: 'a', pick: () => undefined, note: () => calls.push('a') } as KernelPlugin);
    driver.add({ name: 'b', pick: () => 'b', note: () => calls.push('b') } as KernelPlugin);
    driver.add({ name: 'c', pick: () => 'c' } as KernelPlugin);
    expect(driver.first('pick')).toBe('b');
    driver.each('note');
    expect(calls).toEqual(['a', 'b']);
    expect(driver.with('absent')).toEqual([]);
    driver.add({
      name: 'd',
      explode: () => {
        throw new Error('bad');
      },
    } as KernelPlugin);
    expect(() => driver.each('explode')).toThrow(PluginError);
    expect(() => driver.each('explode')).toThrow(/plugin 'd' failed in hook 'explode'/);
  });

  it('emits events only to listeners', () => {
    const k = createKernel({ arch: x86_64, memory: 16 << 20 });
    const seen: number[] = [];
    const f = k.frames.alloc();
    k.frames.put(f);
    const onAlloc = (pfn: number) => seen.push(pfn);
    k.events.on('frameAlloc', onAlloc);
    const g = k.frames.alloc();
    k.events.off('frameAlloc', onAlloc);
    k.frames.put(g);
    k.frames.put(k.frames.alloc());
    expect(seen).toEqual([g]);
  });
});

describe('kernels in one process', () => {
  it('keep their page tables apart', () => {
    const a = createKernel({ arch: x86_64, memory: 16 << 20 });
    const b = createKernel({ arch: x86_64, memory: 16 << 20 });
    const pa = a.newUserPageTable();
    const pb = b.newUserPageTable();
    expect(a.userPageTables()).toEqual([pa]);
    expect(b.userPageTables()).toEqual([pb]);
    b.destroyUserPageTable(pb);
    expect(a.userPageTables()).toEqual([pa]);
    expect(a.check()).toEqual([]);
    expect(b.check()).toEqual([]);
  });
});
