import type { LayoutFactory, StoreOptions } from '../ecs/store.ts';
import { MmError } from '../errors.ts';
import {
  FrameAllocator,
  type FrameAllocatorOptions,
  type FrameAllocatorService,
} from '../frame/allocator.ts';
import { createMetaStore, type FrameMetaStore } from '../frame/meta-store.ts';
import { type LockProtocol, lockProtocol } from '../page-table/lock-protocol.ts';
import { eagerFork, type ForkStrategy } from '../process/fork-strategy.ts';
import type { TlbConfig } from '../tlb/config.ts';
import { Tlb } from '../tlb/tlb.ts';

/**
 * The replaceable parts of a kernel. Each is registered in the kernel's container under its
 * token (`tokens.ts`); a `createKernel` override or a plugin spec's `services` replaces the
 * default. Factories run once, while the kernel boots.
 */
export interface KernelServices {
  /**
   * Which frames are free (default: the `bitmap` `FrameAllocator`). Token
   * `FrameAllocatorToken`. `options` asks for shared buffers; an allocator that cannot share
   * ignores them, and the kernel then cannot be attached from worker threads.
   */
  frameAllocator: (nrFrames: number, options: FrameAllocatorOptions) => FrameAllocatorService;
  /** Where frame and node metadata live (default: the config's `layout`). Token `MetaStoreToken`. */
  metaStore: (nrFrames: number, options: StoreOptions) => FrameMetaStore;
  /** The page-table lock protocol (default: `hoh`). Token `LockProtocolToken`. */
  lockProtocol: LockProtocol;
  /** The TLB model (default: `Tlb`). Token `TlbToken`. */
  tlb: (config: TlbConfig | undefined) => Tlb;
  /** How fork copies an address space (default: `eagerFork`). Token `ForkStrategyToken`. */
  forkStrategy: ForkStrategy;
}

export type ServiceName = keyof KernelServices;
export type ServiceOverrides = Partial<KernelServices>;

/** The default services, `layout` naming the metadata layout. */
export function defaultServices(layout: string | LayoutFactory): KernelServices {
  return {
    frameAllocator: (nrFrames, options) => new FrameAllocator(nrFrames, options),
    metaStore: (nrFrames, options) => createMetaStore(layout, nrFrames, options),
    lockProtocol: lockProtocol('hoh'),
    tlb: (config) => new Tlb(config),
    forkStrategy: eagerFork,
  };
}

const SERVICE_NAMES: readonly ServiceName[] = [
  'frameAllocator',
  'metaStore',
  'lockProtocol',
  'tlb',
  'forkStrategy',
];
/** Services given as objects; the others are factories. */
const OBJECT_SERVICES: readonly ServiceName[] = ['lockProtocol', 'forkStrategy'];

/**
 * Merges overrides from their sources (`createKernel`'s `services`, then each plugin's) over
 * the defaults. An unknown service name, a value of the wrong kind, or two sources replacing
 * the same service is an `InvalidConfig` error naming them.
 */
export function resolveServices(
  defaults: KernelServices,
  sources: readonly { from: string; services: ServiceOverrides }[],
): KernelServices {
  const out: KernelServices = { ...defaults };
  const setBy = new Map<ServiceName, string>();
  for (const { from, services } of sources) {
    for (const [name, value] of Object.entries(services)) {
      if (!isServiceName(name))
        throw new MmError(
          'InvalidConfig',
          `${from}: unknown service '${name}' (known: ${SERVICE_NAMES.join(', ')})`,
        );
      if (value === undefined) continue;
      const expected = OBJECT_SERVICES.includes(name) ? 'object' : 'function';
      if (typeof value !== expected)
        throw new MmError('InvalidConfig', `${from}: service '${name}' must be a ${expected}`);
      const previous = setBy.get(name);
      if (previous !== undefined)
        throw new MmError('InvalidConfig', `service '${name}' is replaced by both ${previous} and ${from}`);
      setBy.set(name, from);
      Object.assign(out, { [name]: value });
    }
  }
  return out;
}

function isServiceName(name: string): name is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(name);
}
