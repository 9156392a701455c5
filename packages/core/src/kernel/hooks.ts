import type { CursorMut } from '../page-table/cursor.ts';
import type { LeafSlot } from '../page-table/leaf-slot.ts';
import type { PageTable } from '../page-table/page-table.ts';
import type { FileOp, FileOpResult } from '../syscall/file-ops.ts';
import type { Vmar } from '../vmar/vmar.ts';
import type { Vmo } from '../vmar/vmo.ts';
import type { Violation } from './check.ts';
import type { FaultAccess, FaultKind } from './events.ts';

/**
 * Every hook of the kernel, in one place. A plugin implements any part of it (see
 * `KernelPlugin`); the core calls hooks only by these names, with these types.
 *
 * Kinds (`HOOK_KINDS`):
 * - `first`: plugins are asked in list order; the first result other than `undefined` wins;
 * - `each`: every plugin runs, in list order;
 * - `observe`: every plugin is told, in list order, after the fact; it changes nothing.
 *
 * Hot hooks (`HOT_HOOKS`: cursor, fault) are bound once when the kernel is composed, to a
 * no-op when no plugin has them, to the plugin's method when one has, or to a loop over
 * several; they are called directly, so their errors are not wrapped in `PluginError`.
 */
export interface KernelHooks {
  /** `each`: runs once when the kernel is composed, in plugin-list order. */
  install(): void;
  /** `each`: the plugin's invariant checks; `kernel.check()` collects the violations. */
  check(): Violation[];
  /** `first`: the VMO of an existing file named `name`, for `mmap`. */
  lookupFile(name: string): Vmo | undefined;
  /** `first`: runs a file operation. */
  fileOp(op: FileOp): FileOpResult | undefined;
  /**
   * `each`, hot: `cursor` went up from `node`, which had no child left when it was left.
   * The cursor now sits, holding its lock, on the slot of the node that references `node`
   * (`cursor.level` is that node's level); `node` is unlocked.
   */
  cursorLeftEmptyNode(cursor: CursorMut, node: number): void;
  /**
   * `each`, hot: a cursor of `pt` whose guard node (below the root) had no child left was
   * dropped; it held no lock any more. `va` is the start of its range.
   */
  cursorDroppedEmptyGuard(pt: PageTable, va: number): void;
  /**
   * `first`, hot: a write fault on a present page of a private mapping, mapped without W,
   * whose frame (`pfn`) is not a VMO's own page (so it belongs to the process, maybe shared
   * with others by fork). `slot` holds the lock of the page's leaf node and is on the page
   * (`slot.va`); `prop` is the property the writable page gets. The hook makes the page
   * writable (in place or as a copy) and returns the kind, or `undefined` to leave it to
   * the core, which re-grants W in place (`reuse`): without a plugin sharing private frames,
   * the frame is this page's alone. (Arguments, not an object: it runs on every COW break.)
   */
  privateWriteFault(
    vmar: Vmar,
    mapping: number,
    slot: LeafSlot,
    pfn: number,
    prop: number,
  ): FaultKind | undefined;
  /**
   * `observe`, hot: a page fault at `vaddr` in `mapping` (an id in `vmar.maps`; -1: none)
   * was handled as `kind`.
   */
  pageFault(vmar: Vmar, mapping: number, vaddr: number, access: FaultAccess, kind: FaultKind): void;
}

export type HookName = keyof KernelHooks;
export type HookKind = 'first' | 'each' | 'observe';

/** The kind of every hook (checked complete by the compiler). */
export const HOOK_KINDS = {
  install: 'each',
  check: 'each',
  lookupFile: 'first',
  fileOp: 'first',
  cursorLeftEmptyNode: 'each',
  cursorDroppedEmptyGuard: 'each',
  privateWriteFault: 'first',
  pageFault: 'observe',
} as const satisfies { readonly [K in HookName]: HookKind };

/** Hooks bound once at composition (`KernelHookTable`) instead of looked up per call. */
export const HOT_HOOKS = [
  'cursorLeftEmptyNode',
  'cursorDroppedEmptyGuard',
  'privateWriteFault',
  'pageFault',
] as const;
export type HotHookName = (typeof HOT_HOOKS)[number];

/** Names of the hooks of one kind. */
export type HooksOfKind<K extends HookKind> = {
  [H in HookName]: (typeof HOOK_KINDS)[H] extends K ? H : never;
}[HookName];

/** The bound hot hooks of one kernel: each a direct function (a no-op without plugins). */
export type KernelHookTable = { readonly [H in HotHookName]: KernelHooks[H] };

/** The hook that does nothing: what a hot hook is bound to when no plugin has it. */
export const NOOP_HOOK = (): undefined => undefined;

/** The hot hooks of a kernel without plugins. */
export const NO_HOOKS: KernelHookTable = {
  cursorLeftEmptyNode: NOOP_HOOK,
  cursorDroppedEmptyGuard: NOOP_HOOK,
  privateWriteFault: NOOP_HOOK,
  pageFault: NOOP_HOOK,
};
