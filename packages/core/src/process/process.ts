import type { Vmar } from '../vmar/vmar.ts';

/** A process as the memory manager sees it: an id and an address space. */
export class Process {
  constructor(
    readonly pid: number,
    readonly vmar: Vmar,
  ) {}
}
