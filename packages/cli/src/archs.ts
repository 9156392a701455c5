import { riscvSv39, riscvSv48 } from '@mmkit/arch-riscv';
import { x86_64 } from '@mmkit/arch-x86_64';
import type { Arch } from '@mmkit/core';

/** Architectures by the names the CLI and config files use. */
export const ARCHS: Readonly<Record<string, Arch>> = {
  x86_64,
  'riscv-sv39': riscvSv39,
  'riscv-sv48': riscvSv48,
};

export const ARCH_NAMES = Object.keys(ARCHS);

/** The architecture called `name`; throws a message listing the known names otherwise. */
export function archByName(name: string): Arch {
  const arch = ARCHS[name];
  if (arch === undefined)
    throw new UsageError(`unknown architecture '${name}' (known: ${ARCH_NAMES.join(', ')})`);
  return arch;
}

/** An error in what the user asked for: printed as one line, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
