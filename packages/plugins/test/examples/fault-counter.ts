import type { FaultAccess, FaultKind, KernelPlugin, PluginSpec, Vmar } from '@mmkit/core';
import { injectable } from 'tsyringe';

/** Faults of one mapping, by kind (`anon`, `cow`, `reuse`, ...). */
export type FaultCounts = Partial<Record<FaultKind, number>>;

/**
 * Counts page faults per mapping, by kind. It uses one public hook, `pageFault` (an observe
 * hook: told after each fault, it changes nothing), and injects no service.
 */
@injectable()
export class FaultCounter implements KernelPlugin {
  readonly name = 'fault-counter';
  /** Key: `pid:start` of the mapping when it faulted (mappings split and merge later). */
  readonly counts = new Map<string, FaultCounts>();

  pageFault(vmar: Vmar, mapping: number, _va: number, _access: FaultAccess, kind: FaultKind): void {
    if (mapping < 0) return; // no mapping there: a segv outside any mapping
    const key = `${vmar.owner}:0x${vmar.maps.start(mapping).toString(16)}`;
    const counts = this.counts.get(key) ?? {};
    counts[kind] = (counts[kind] ?? 0) + 1;
    this.counts.set(key, counts);
  }
}

/** The spec to list in `createKernel({ plugins: [faultCounter()] })`. */
export function faultCounter(): PluginSpec {
  return { name: 'fault-counter', pluginClass: FaultCounter, optionNames: [] };
}
