import { LOCK_PROTOCOLS, lockProtocol, type ServiceOverrides } from '@mmkit/core';
import { BuddyAllocator } from '@mmkit/plugins';
import { UsageError } from '../archs.ts';

/** What one `--compare` choice sets in every kernel a workload creates. */
export interface KernelChoice {
  /** `createKernel` service overrides. */
  readonly services: ServiceOverrides;
  /** `createKernel`'s `sharedMemory` (frames, metadata and allocator on `SharedArrayBuffer`s). */
  readonly sharedMemory: boolean;
  /**
   * Shared memory in SMP mode from the start (`Kernel.smp`: the kernel has handed out its
   * state, so every shared word changes with `Atomics`), instead of UP mode (one view, plain
   * accesses).
   */
  readonly smp: boolean;
}

const services = (overrides: ServiceOverrides): KernelChoice => ({
  services: overrides,
  sharedMemory: false,
  smp: false,
});

/**
 * Kernel choices `mmkit bench --compare KEY=A,B,...` can set side by side: per key, the
 * value names and the kernel choice each one means. Each choice runs in its own child
 * process, as layouts do.
 */
export const COMPARE_CHOICES: Readonly<Record<string, Readonly<Record<string, () => KernelChoice>>>> = {
  /** The page-table lock protocol. */
  lock: Object.fromEntries(
    LOCK_PROTOCOLS.map((name) => [name, () => services({ lockProtocol: lockProtocol(name) })]),
  ),
  /** The frame allocator: `bitmap` is the core's default, `buddy` the buddy plugin's. */
  allocator: {
    bitmap: () => services({}),
    buddy: () => services({ frameAllocator: (nrFrames: number) => new BuddyAllocator(nrFrames) }),
  },
  /**
   * Where the physical layer lives: `private` (plain `ArrayBuffer`s, the default),
   * `shared` (`sharedMemory: true`: what worker threads need; one view, so UP mode) or `smp`
   * (shared, in SMP mode as once another thread may attach: `Atomics` for every shared
   * word), all on one thread: the single-thread price of being shareable, and of the
   * atomic instructions.
   */
  memory: {
    private: () => ({ services: {}, sharedMemory: false, smp: false }),
    shared: () => ({ services: {}, sharedMemory: true, smp: false }),
    smp: () => ({ services: {}, sharedMemory: true, smp: true }),
  },
};

/** A parsed `--compare`: the key and its values, in the order given. */
export interface Comparison {
  key: string;
  values: string[];
}

/** Parses `KEY=A,B,...`; an unknown key or value, or fewer than two values, is a usage error. */
export function parseCompare(text: string): Comparison {
  const eq = text.indexOf('=');
  const key = eq < 0 ? text.trim() : text.slice(0, eq).trim();
  const choices = COMPARE_CHOICES[key];
  if (choices === undefined)
    throw new UsageError(
      `--compare: unknown key '${key}' (known: ${Object.keys(COMPARE_CHOICES).join(', ')})`,
    );
  const values = [
    ...new Set(
      (eq < 0 ? '' : text.slice(eq + 1))
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
  for (const v of values)
    if (choices[v] === undefined)
      throw new UsageError(
        `--compare ${key}: unknown value '${v}' (known: ${Object.keys(choices).join(', ')})`,
      );
  if (values.length < 2)
    throw new UsageError(
      `--compare ${key}: give at least two values, e.g. ${key}=${Object.keys(choices).join(',')}`,
    );
  return { key, values };
}

/** One kernel choice, `KEY=VALUE`. */
export interface KernelChoiceName {
  key: string;
  value: string;
}

/**
 * Parses the `--with KEY=VALUE` options: choices every column of the run takes (e.g. the
 * lock protocol while `--compare memory=private,shared` varies the memory). An unknown key
 * or value, a key given twice, or the key `--compare` varies is a usage error.
 */
export function parseWith(texts: readonly string[], compareKey?: string): KernelChoiceName[] {
  const out: KernelChoiceName[] = [];
  for (const text of texts) {
    const eq = text.indexOf('=');
    const key = eq < 0 ? text.trim() : text.slice(0, eq).trim();
    const value = eq < 0 ? '' : text.slice(eq + 1).trim();
    const choices = COMPARE_CHOICES[key];
    if (choices === undefined)
      throw new UsageError(
        `--with: unknown key '${key}' (known: ${Object.keys(COMPARE_CHOICES).join(', ')})`,
      );
    if (choices[value] === undefined)
      throw new UsageError(
        `--with ${key}: expected one of ${Object.keys(choices).join(', ')}, got '${value}' (e.g. --with ${key}=${Object.keys(choices)[0]})`,
      );
    if (key === compareKey) throw new UsageError(`--with ${key}: --compare already varies '${key}'`);
    if (out.some((c) => c.key === key)) throw new UsageError(`--with ${key}: given twice`);
    out.push({ key, value });
  }
  return out;
}

/** The kernel choice of `key=value` (for a child process). */
export function compareChoice(key: string, value: string): KernelChoice {
  const make = COMPARE_CHOICES[key]?.[value];
  if (make === undefined) throw new Error(`no kernel choice ${key}=${value}`);
  return make();
}

/** The kernel of several choices of distinct keys at once: their services together, shared memory (and SMP mode) if any asks. */
export function combinedChoice(names: readonly KernelChoiceName[]): KernelChoice {
  let services = {};
  let sharedMemory = false;
  let smp = false;
  for (const { key, value } of names) {
    const c = compareChoice(key, value);
    services = { ...services, ...c.services };
    sharedMemory ||= c.sharedMemory;
    smp ||= c.smp;
  }
  return { services, sharedMemory, smp };
}
