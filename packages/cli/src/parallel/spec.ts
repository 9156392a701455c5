import {
  createKernel,
  type Kernel,
  type LockProtocolName,
  lockProtocol,
  type SharedKernelState,
} from '@mmkit/core';
import { pageTableRecycling } from '@mmkit/plugins';
import { archByName } from '../archs.ts';

/**
 * How the kernel that workers share is composed. The booting thread and every worker build
 * their kernel from the same spec, so plugins and the lock protocol agree across threads
 * (a spec is plain data: it crosses `postMessage`).
 */
export interface ParallelKernelSpec {
  /** An architecture name (`x86_64`, `riscv-sv39`, `riscv-sv48`). */
  readonly arch: string;
  /** Bytes of physical memory: all of it is one `SharedArrayBuffer`. */
  readonly memory: number;
  readonly layout: 'soa' | 'aos';
  readonly protocol: LockProtocolName;
  /** Install the `recycle` plugin (empty nodes are detached and freed). */
  readonly recycle: boolean;
  /** Debug mode: every PTE write checks that its cursor holds the node's lock. */
  readonly debug: boolean;
}

/**
 * The kernel of `spec`: booted on shared memory, or (with `attach`) a view of a kernel
 * booted elsewhere.
 */
export function parallelKernel(spec: ParallelKernelSpec, attach?: SharedKernelState): Kernel {
  return createKernel({
    arch: archByName(spec.arch),
    memory: spec.memory,
    layout: spec.layout,
    debug: spec.debug,
    sharedMemory: true,
    linearMapping: false,
    services: { lockProtocol: lockProtocol(spec.protocol) },
    plugins: spec.recycle ? [pageTableRecycling()] : [],
    ...(attach === undefined ? {} : { attach }),
  });
}
