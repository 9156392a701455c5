import {
  type FrameAllocatorService,
  FrameAllocatorToken,
  type KernelPlugin,
  type PluginSpec,
  type Violation,
} from '@mmkit/core';
import { inject, injectable } from 'tsyringe';
import { BuddyAllocator } from './buddy-allocator.ts';

/**
 * The `buddy` plugin: replaces the kernel's frame allocator service (the default bitmap
 * allocator) with a `BuddyAllocator`, and adds its free-list invariants to `kernel.check()`.
 */
@injectable()
export class BuddyPlugin implements KernelPlugin {
  readonly name = 'buddy';

  constructor(@inject(FrameAllocatorToken) private readonly allocator: FrameAllocatorService) {}

  check(): Violation[] {
    if (!(this.allocator instanceof BuddyAllocator)) {
      return [{ kind: 'buddy', message: 'the frame allocator service is not the buddy allocator' }];
    }
    return this.allocator.check().map((message) => ({ kind: 'buddy-free-lists', message }));
  }
}

/** The `buddy` plugin spec for `createKernel({ plugins })`. */
export function buddy(): PluginSpec {
  return {
    name: 'buddy',
    pluginClass: BuddyPlugin,
    optionNames: [],
    services: { frameAllocator: (nrFrames) => new BuddyAllocator(nrFrames) },
  };
}
