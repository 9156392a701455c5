import type { PagingConsts } from './paging-consts.ts';
import type { PteCodec } from './pte-codec.ts';

/**
 * An architecture as the engine sees it: paging constants plus a PTE codec. Everything
 * above `arch/` is written against this contract only; the architecture is chosen in one
 * place, `createKernel`.
 */
export interface Arch {
  readonly consts: PagingConsts;
  readonly codec: PteCodec;
}
