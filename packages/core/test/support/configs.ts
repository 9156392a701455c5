import { riscvSv39, riscvSv48 } from '@mmkit/arch-riscv';
import { x86_64 } from '@mmkit/arch-x86_64';
import {
  type Arch,
  createKernel,
  type Kernel,
  type KernelConfig,
  LAYOUT_NAMES,
  LOCK_PROTOCOLS,
  lockProtocol,
} from '@mmkit/core';

/** The three architecture configurations every conformance test runs on. */
export const ARCHS: readonly { name: string; arch: Arch }[] = [
  { name: 'x86_64', arch: x86_64 },
  { name: 'riscv-sv39', arch: riscvSv39 },
  { name: 'riscv-sv48', arch: riscvSv48 },
];

/** Every architecture × storage layout: suites parametrized over these run on each. */
export const KERNEL_CONFIGS: readonly { name: string; arch: Arch; layout: string }[] = ARCHS.flatMap((a) =>
  LAYOUT_NAMES.map((layout) => ({ name: `${a.name}/${layout}`, arch: a.arch, layout })),
);

/**
 * Every architecture × layout with the default lock protocol (`hoh`), then every
 * architecture with each other protocol (soa layout): the page-table suites run on these.
 */
export const PROTOCOL_CONFIGS: readonly { name: string; arch: Arch; layout: string; lockProtocol: string }[] =
  [
    ...KERNEL_CONFIGS.map((c) => ({ ...c, lockProtocol: 'hoh' })),
    ...LOCK_PROTOCOLS.filter((p) => p !== 'hoh').flatMap((p) =>
      ARCHS.map((a) => ({ name: `${a.name}/soa/${p}`, arch: a.arch, layout: 'soa', lockProtocol: p })),
    ),
  ];

/** A small debug-mode kernel for tests. */
export function testKernel(
  config: { arch: Arch; layout?: string; lockProtocol?: string },
  extra: Partial<KernelConfig> = {},
): Kernel {
  const services =
    config.lockProtocol === undefined ? {} : { lockProtocol: lockProtocol(config.lockProtocol) };
  return createKernel({
    memory: 64 << 20,
    debug: true,
    arch: config.arch,
    layout: config.layout,
    ...extra,
    services: { ...services, ...extra.services },
  });
}

/** Fails with the violations' messages if `kernel.check()` finds any. */
export function expectClean(kernel: Kernel): void {
  const violations = kernel.check();
  if (violations.length > 0) {
    throw new Error(
      `kernel.check() found ${violations.length} violations:\n${violations
        .slice(0, 10)
        .map((v) => v.message)
        .join('\n')}`,
    );
  }
}
