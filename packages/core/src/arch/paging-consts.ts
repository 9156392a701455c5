/**
 * Paging constants of an architecture and the paging arithmetic written once for all.
 *
 * Levels are numbered as in the seeds: 1 is the leaf table, `nrLevels` the root.
 * Virtual addresses are plain numbers below `2 ** addressWidth`; the kernel half is the
 * upper half of that range (the sign-extended canonical form is only used for display,
 * see `canonicalVaddr`), so every address fits a double exactly and no `BigInt` is needed.
 */
export interface PagingConsts {
  /** A short name, e.g. `x86_64`, `riscv-sv39`. */
  readonly name: string;
  /** Number of levels of the tree (4 for x86_64 and Sv48, 3 for Sv39). */
  readonly nrLevels: number;
  /** Entries per node: 512 on every supported architecture. */
  readonly nrEntries: number;
  /** log2 of `nrEntries` (9). */
  readonly entryBits: number;
  /** Size of a base page in bytes (4096). */
  readonly basePageSize: number;
  /** log2 of `basePageSize` (12). */
  readonly pageBits: number;
  /** Highest level whose entries may be leaves (huge pages). */
  readonly highestTranslationLevel: number;
  /** Width of a virtual address in bits (48 or 39). */
  readonly addressWidth: number;
  /** Root entries `[0, userRootEntries)` belong to user space, the rest to the kernel. */
  readonly userRootEntries: number;
  /** Width of a physical address in bits (52 on x86_64, 56 on RISC-V). */
  readonly physAddressWidth: number;
}

/** Size in bytes of the memory one entry at `level` covers. */
export function pageSize(consts: PagingConsts, level: number): number {
  return 2 ** (consts.pageBits + consts.entryBits * (level - 1));
}

/** Index of the entry covering `vaddr` in a node at `level`. */
export function pteIndex(consts: PagingConsts, vaddr: number, level: number): number {
  return Math.floor(vaddr / pageSize(consts, level)) % consts.nrEntries;
}

/** Size of the whole virtual address space a table covers (`2 ** addressWidth`). */
export function addressSpaceSize(consts: PagingConsts): number {
  return 2 ** consts.addressWidth;
}

/** First address of the kernel half (the upper half of the root). */
export function kernelBase(consts: PagingConsts): number {
  return consts.userRootEntries * pageSize(consts, consts.nrLevels);
}

/** The canonical 64-bit form of a (non-sign-extended) mmkit virtual address, for display. */
export function canonicalVaddr(consts: PagingConsts, vaddr: number): bigint {
  const v = BigInt(vaddr);
  const top = 1n << BigInt(consts.addressWidth - 1);
  return v & top ? v | (~((1n << BigInt(consts.addressWidth)) - 1n) & 0xffff_ffff_ffff_ffffn) : v;
}
