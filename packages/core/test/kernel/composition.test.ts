import { x86_64 } from '@mmkit/arch-x86_64';
import {
  AnonVmo,
  createKernel,
  type FaultKind,
  FrameAllocator,
  FrameAllocatorToken,
  FramesToken,
  type KernelConfig,
  type KernelPlugin,
  LinuxSyscalls,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  NO_HOOKS,
  PluginDriver,
  PluginError,
  type PluginSpec,
  PROT_READ,
  PROT_WRITE,
  type ServiceOverrides,
  type Tlb,
  TlbToken,
} from '@mmkit/core';
import { inject, injectable } from 'tsyringe';
import { describe, expect, it } from 'vitest';

@injectable()
class CountingPlugin implements KernelPlugin {
  readonly name = 'counting';
  installs = 0;
  constructor(@inject(TlbToken) readonly tlb: Tlb) {}
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
const broken = (when: string): PluginSpec<{ when: string }> => ({
  name: 'broken',
  pluginClass: BrokenPlugin,
  options: { when },
  optionsToken: BrokenOptions,
  optionNames: ['when'],
});

describe('kernel composition', () => {
  it('resolves plugins in a container per kernel: two kernels share nothing', () => {
    const a = createKernel({ arch: x86_64, memory: 16 << 20, plugins: [counting()] });
    const b = createKernel({ arch: x86_64, memory: 16 << 20, plugins: [counting()] });
    const pa = a.plugins.get<CountingPlugin>('counting');
    const pb = b.plugins.get<CountingPlugin>('counting');
    expect(pa).toBeDefined();
    expect(pa).not.toBe(pb);
    expect(pa?.tlb).toBe(a.tlb);
    expect(pb?.tlb).toBe(b.tlb);
    expect(pa?.installs).toBe(1);
    expect(a.container).not.toBe(b.container);
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

  it('runs hooks first-wins or each-in-order, and binds hot hooks once', () => {
    const driver = new PluginDriver();
    const calls: string[] = [];
    const plugin = (
      name: string,
      file: string | undefined,
      hooks: Partial<KernelPlugin> = {},
    ): KernelPlugin => ({
      name,
      install: () => calls.push(name),
      lookupFile: () => (file === undefined ? undefined : new AnonVmo(k.frames, 1)),
      ...hooks,
    });
    const k = createKernel({ arch: x86_64, memory: 16 << 20 });
    driver.add(plugin('a', undefined));
    driver.add(plugin('b', 'b'));
    driver.add(plugin('c', 'c', { cursorLeftEmptyNode: () => calls.push('c-left') }));
    const vmo = driver.first('lookupFile', 'x');
    expect(vmo).toBeInstanceOf(AnonVmo);
    vmo?.release();
    driver.each('install');
    expect(calls).toEqual(['a', 'b', 'c']);
    expect(driver.with('fileOp')).toEqual([]);
    const hot = driver.bindHot();
    // No plugin has it: a no-op; one has it: that plugin's method.
    expect(hot.pageFault).toBe(NO_HOOKS.pageFault);
    hot.cursorLeftEmptyNode(k.kernelPageTable.cursorMut(k.linearMappingBase, k.linearMappingBase + 4096), 0);
    expect(calls).toEqual(['a', 'b', 'c', 'c-left']);
    driver.add({
      name: 'd',
      install: () => {
        throw new Error('bad');
      },
    });
    expect(() => driver.each('install')).toThrow(PluginError);
    expect(() => driver.each('install')).toThrow(/plugin 'd' failed in hook 'install'/);
  });

  it('rejects unknown config options, plugin options and services by name', () => {
    const cfg = { arch: x86_64, memory: 16 << 20 };
    expect(() => createKernel({ ...cfg, layuot: 'soa' } as KernelConfig)).toThrow(
      /unknown kernel config option 'layuot'/,
    );
    expect(() => createKernel({ ...cfg, pluginOptions: { cow: {} } })).toThrow(/no plugin named 'cow'/);
    expect(() =>
      createKernel({
        ...cfg,
        plugins: [broken('never')],
        pluginOptions: { broken: { when: 'never', wen: 1 } },
      }),
    ).toThrow(/plugin 'broken': unknown option 'wen'/);
    expect(() => createKernel({ ...cfg, services: { allocator: () => null } as ServiceOverrides })).toThrow(
      /unknown service 'allocator'/,
    );
  });

  it('boots on replaced services and gives plugins only what they inject', () => {
    let made = 0;
    const k = createKernel({
      arch: x86_64,
      memory: 16 << 20,
      plugins: [counting()],
      services: {
        frameAllocator: (n) => {
          made++;
          return new FrameAllocator(n);
        },
      },
    });
    expect(made).toBe(1);
    expect(k.container.resolve(FrameAllocatorToken)).toBe(k.frames.allocator);
    expect(k.container.resolve(FramesToken)).toBe(k.frames);
    const f = k.frames.alloc();
    k.frames.put(f);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
    expect(k.check()).toEqual([]);
    expect(() =>
      createKernel({
        arch: x86_64,
        memory: 16 << 20,
        services: { frameAllocator: () => new FrameAllocator(8) },
      }),
    ).toThrow(/must start with all 4096 frames free/);
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

describe('events', () => {
  it('report faults by kind, unmaps and protects as they happen', () => {
    const k = createKernel({ arch: x86_64, memory: 16 << 20 });
    const sys = new LinuxSyscalls(k);
    const seen: string[] = [];
    k.events.on('fault', (pid, va, access, kind: FaultKind) =>
      seen.push(`fault ${pid} ${va} ${access} ${kind}`),
    );
    k.events.on('unmap', (pid, va, len, n) => seen.push(`unmap ${pid} ${va} ${len} ${n}`));
    k.events.on('protect', (pid, va, len) => seen.push(`protect ${pid} ${va} ${len}`));
    const p = sys.spawn();
    const a = sys.mmap(p, 0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    sys.writeMemory(p, a, Uint8Array.of(1));
    expect(sys.mprotect(p, a, 4096, PROT_READ)).toBe(0);
    expect(sys.munmap(p, a, 2 * 4096)).toBe(0);
    // One unmap per mapping: mprotect split the region in two.
    expect(seen).toEqual([
      `fault ${p} ${a} write anon`,
      `protect ${p} ${a} 4096`,
      `unmap ${p} ${a} 4096 1`,
      `unmap ${p} ${a + 4096} 4096 0`,
    ]);
    sys.exit(p);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
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
