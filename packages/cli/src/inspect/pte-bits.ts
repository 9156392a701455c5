import {
  RV_BIT_A,
  RV_BIT_D,
  RV_BIT_G,
  RV_BIT_PBMT_IO,
  RV_BIT_R,
  RV_BIT_RSW1,
  RV_BIT_U,
  RV_BIT_V,
  RV_BIT_W,
  RV_BIT_X,
} from '@mmkit/arch-riscv';
import {
  X86_BIT_A,
  X86_BIT_AVAIL1,
  X86_BIT_D,
  X86_BIT_G,
  X86_BIT_NX,
  X86_BIT_P,
  X86_BIT_PCD,
  X86_BIT_PS,
  X86_BIT_PWT,
  X86_BIT_RW,
  X86_BIT_US,
} from '@mmkit/arch-x86_64';

/** A named hardware bit of a PTE: its position in the 64-bit word and what it means. */
export interface PteBit {
  name: string;
  bit: number;
  meaning: string;
}

const X86_BITS: readonly PteBit[] = [
  { name: 'P', bit: X86_BIT_P, meaning: 'present (on a leaf: readable)' },
  { name: 'RW', bit: X86_BIT_RW, meaning: 'writable' },
  { name: 'US', bit: X86_BIT_US, meaning: 'user accessible' },
  { name: 'PWT', bit: X86_BIT_PWT, meaning: 'write-through (cache policy, PAT index bit 0)' },
  { name: 'PCD', bit: X86_BIT_PCD, meaning: 'cache disabled (cache policy, PAT index bit 1)' },
  { name: 'A', bit: X86_BIT_A, meaning: 'accessed' },
  { name: 'D', bit: X86_BIT_D, meaning: 'dirty' },
  { name: 'PS', bit: X86_BIT_PS, meaning: 'page size: marks a leaf at every level (OSTD encoding)' },
  { name: 'G', bit: X86_BIT_G, meaning: 'global' },
  { name: 'AV', bit: X86_BIT_AVAIL1, meaning: 'software bit: untracked physical memory' },
  { name: 'NX', bit: X86_BIT_NX, meaning: 'no execute' },
];

const RISCV_BITS: readonly PteBit[] = [
  { name: 'V', bit: RV_BIT_V, meaning: 'valid' },
  { name: 'R', bit: RV_BIT_R, meaning: 'readable (R, W or X set: a leaf)' },
  { name: 'W', bit: RV_BIT_W, meaning: 'writable' },
  { name: 'X', bit: RV_BIT_X, meaning: 'executable' },
  { name: 'U', bit: RV_BIT_U, meaning: 'user accessible' },
  { name: 'G', bit: RV_BIT_G, meaning: 'global' },
  { name: 'A', bit: RV_BIT_A, meaning: 'accessed' },
  { name: 'D', bit: RV_BIT_D, meaning: 'dirty' },
  { name: 'RSW', bit: RV_BIT_RSW1, meaning: 'software bit: untracked physical memory' },
  { name: 'IO', bit: RV_BIT_PBMT_IO, meaning: 'Svpbmt IO: uncacheable' },
];

/** The hardware bits shown for architecture `archName` (`PagingConsts.name`). */
export function pteBits(archName: string): readonly PteBit[] {
  return archName === 'x86_64' ? X86_BITS : RISCV_BITS;
}

/** Names of the bits set in the PTE `lo`/`hi`, in bit order (e.g. `P RW US A D PS`). */
export function decodePteBits(bits: readonly PteBit[], lo: number, hi: number): string {
  const names: string[] = [];
  for (const b of bits) {
    const set = b.bit < 32 ? (lo >>> b.bit) & 1 : (hi >>> (b.bit - 32)) & 1;
    if (set) names.push(b.name);
  }
  return names.join(' ');
}

/** The raw PTE as 16 hex digits. */
export function pteHex(lo: number, hi: number): string {
  return (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}
