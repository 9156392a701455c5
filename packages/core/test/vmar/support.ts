import { x86_64 } from '@mmkit/arch-x86_64';
import {
  type Arch,
  checkVmar,
  formatPerms,
  type Kernel,
  QUERY_MAPPED,
  Vmar,
  type VmarConfig,
  VmSpace,
} from '@mmkit/core';
import { expect } from 'vitest';
import { expectClean, testKernel } from '../support/configs.ts';

export const P = 4096;
/** Where the tests map: 256 MiB, a user address on every architecture. */
export const BASE = 0x1000_0000;
export const at = (page: number): number => BASE + page * P;

export function setup(config: VmarConfig = {}, arch: Arch = x86_64): { k: Kernel; vmar: Vmar } {
  const k = testKernel({ arch });
  return { k, vmar: new Vmar(new VmSpace(k), config) };
}

/** The mappings as `[firstPage, endPage, perms]` relative to `BASE`. */
export function layout(vmar: Vmar): [number, number, string][] {
  return vmar.views().map((m) => [(m.start - BASE) / P, (m.end - BASE) / P, formatPerms(m.perms, m.shared)]);
}

/** The frame mapped at `va`, or -1. */
export function pfnAt(vmar: Vmar, va: number): number {
  const c = vmar.space.cursor(va, va + P);
  try {
    return c.query() === QUERY_MAPPED ? c.qPfn : -1;
  } finally {
    c.drop();
  }
}

/** Every kernel and VMAR invariant holds. */
export function expectSound(k: Kernel, vmar: Vmar): void {
  expectClean(k);
  expect(checkVmar(vmar).map((v) => v.message)).toEqual([]);
}
