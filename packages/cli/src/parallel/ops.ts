import {
  type CursorMut,
  FrameType,
  type Kernel,
  MmError,
  type PageTable,
  PTE_ABSENT,
  QUERY_END,
  QUERY_MAPPED,
  QUERY_NOT_MAPPED,
} from '@mmkit/core';

/**
 * Cursor operations a worker runs on the shared page table, each over `pages` base pages
 * from `va`, each under one cursor (so each is atomic with respect to other cursors of
 * the table, as the lock protocol promises):
 * - `map`: maps a fresh frame at every absent page, then re-reads the range under the same
 *   cursor: a page found absent is a lost PTE;
 * - `unmap`: unmaps the range (counting the frames it unmapped);
 * - `protect`: sets `prop` on every mapped page, then re-reads them under the same cursor;
 * - `query`: counts the mapped pages;
 * - `fault`: an anonymous page fault at each page in turn, at the page-table level, as the
 *   kernel's fault handler does once the mapping lookup allowed the access: where the
 *   page's leaf node exists it locks that node alone (`LeafSlot`, one page, one node),
 *   otherwise it takes a cursor over that one page, which creates the missing nodes; an
 *   absent page gets a fresh zero-filled frame mapped with `prop`; a present page is left as
 *   it is (a spurious fault, another thread was first);
 * - `descend`: goes down to the leaf node of every page, creating the nodes that are
 *   missing, and writes no PTE: the page-table work of a CortenMM `mmap` short of its status
 *   markers (mmkit keeps mappings in the VMAR and has no status PTE).
 * An operation is repeatable: when a node it needs is locked (`CursorBusy`, at creation or
 * on the way down), the cursor is dropped and the operation starts again, doing only what is
 * left (pages mapped or unmapped by the failed attempt stay done and counted).
 */
export type ParallelOp =
  | { readonly op: 'map'; readonly va: number; readonly pages: number; readonly prop: number }
  | { readonly op: 'unmap'; readonly va: number; readonly pages: number }
  | { readonly op: 'protect'; readonly va: number; readonly pages: number; readonly prop: number }
  | { readonly op: 'query'; readonly va: number; readonly pages: number }
  | { readonly op: 'fault'; readonly va: number; readonly pages: number; readonly prop: number }
  | { readonly op: 'descend'; readonly va: number; readonly pages: number };

/** What a worker reports back. */
export interface WorkerCounters {
  ops: number;
  /** Frames this worker mapped (each holds one PTE reference when mapped). */
  mapped: number;
  /** Tracked frames this worker's unmaps removed (mapped by any worker). */
  unmapped: number;
  protectedPages: number;
  /** Mapped pages seen by `query` operations. */
  queried: number;
  /** Faults that mapped a fresh frame (each frame holds one PTE reference when mapped). */
  faulted: number;
  /** Faults that found the page already present. */
  spuriousFaults: number;
  /** Cursors abandoned because a node was locked, and started again. */
  busyRetries: number;
  /** Broken promises seen under a cursor (a lost PTE, a wrong property). */
  violations: string[];
}

export function newCounters(): WorkerCounters {
  return {
    ops: 0,
    mapped: 0,
    unmapped: 0,
    protectedPages: 0,
    queried: 0,
    faulted: 0,
    spuriousFaults: 0,
    busyRetries: 0,
    violations: [],
  };
}

/**
 * Runs `ops` in order on `table` of `kernel`, adding to `counters`; `onOp` runs after each
 * (the watchdog's heartbeat).
 */
export function runOps(
  kernel: Kernel,
  table: PageTable,
  ops: readonly ParallelOp[],
  counters: WorkerCounters,
  onOp: () => void = () => {},
): void {
  const page = kernel.consts.basePageSize;
  for (const op of ops) {
    if (op.op === 'fault') {
      for (let i = 0; i < op.pages; i++) {
        const va = op.va + i * page;
        if (!faultInLeafNode(kernel, table, va, op.prop, counters))
          underCursor(table, va, va + page, counters, (c) => fault(kernel, c, op.prop, counters));
      }
    } else
      underCursor(table, op.va, op.va + op.pages * page, counters, (c) =>
        runOne(kernel, c, op, page, counters),
      );
    counters.ops++;
    onOp();
  }
}

/**
 * Runs `body` under a cursor over `[start, end)`; when a node is locked (`CursorBusy`, at
 * creation or on the way down) the cursor is dropped and `body` runs again under a new one.
 */
function underCursor(
  table: PageTable,
  start: number,
  end: number,
  counters: WorkerCounters,
  body: (c: CursorMut) => void,
): void {
  for (;;) {
    const c = table.tryCursorMut(start, end);
    if (c === null) {
      counters.busyRetries++;
      continue;
    }
    try {
      body(c);
      return;
    } catch (e) {
      if (!(e instanceof MmError && e.code === 'CursorBusy')) throw e;
      counters.busyRetries++;
    } finally {
      c.drop();
    }
  }
}

/**
 * The anonymous fault of the page at `va` in its existing leaf node, locked alone
 * (`LeafSlot`), retried while the node is locked (`CursorBusy`); false, having done
 * nothing, when the page has no leaf node yet (the caller then takes a cursor).
 */
function faultInLeafNode(
  kernel: Kernel,
  table: PageTable,
  va: number,
  prop: number,
  counters: WorkerCounters,
): boolean {
  for (;;) {
    const slot = table.leafSlot();
    try {
      if (!slot.lock(va)) return false;
    } catch (e) {
      if (!(e instanceof MmError && e.code === 'CursorBusy')) throw e;
      counters.busyRetries++;
      continue;
    }
    try {
      if (slot.kind() !== PTE_ABSENT) counters.spuriousFaults++;
      else {
        const pfn = kernel.frames.alloc(FrameType.Untyped);
        try {
          slot.mapFresh(pfn, prop);
        } catch (e) {
          kernel.frames.put(pfn);
          throw e;
        }
        counters.faulted++;
      }
    } finally {
      slot.unlock();
    }
    return true;
  }
}

/**
 * The anonymous fault of the page under `c` (a cursor over exactly that page): a fresh
 * frame mapped there (frames from the allocator read as zeros).
 */
function fault(kernel: Kernel, c: CursorMut, prop: number, counters: WorkerCounters): void {
  const va = c.va;
  if (c.query() !== QUERY_NOT_MAPPED) {
    counters.spuriousFaults++;
    return;
  }
  c.jump(va);
  mapFreshFrame(kernel, c, FrameType.Untyped, prop);
  counters.faulted++;
}

/**
 * Maps a frame just allocated at the cursor's page, the PTE taking over the allocation's
 * handle (`CursorMut.mapFresh`: no reference-count update at all). If the map throws (a
 * `CursorBusy` on the way down) the frame still has its handle and is put back, so the
 * retry starts from an absent page as before.
 */
function mapFreshFrame(kernel: Kernel, c: CursorMut, type: FrameType, prop: number): void {
  const pfn = kernel.frames.alloc(type);
  try {
    c.mapFresh(pfn, prop);
  } catch (e) {
    kernel.frames.put(pfn);
    throw e;
  }
}

function runOne(
  kernel: Kernel,
  c: CursorMut,
  op: Exclude<ParallelOp, { op: 'fault' }>,
  page: number,
  counters: WorkerCounters,
): void {
  switch (op.op) {
    case 'map':
      for (let i = 0; i < op.pages; i++) {
        const va = op.va + i * page;
        c.jump(va);
        if (c.query() !== QUERY_NOT_MAPPED) continue;
        c.jump(va);
        mapFreshFrame(kernel, c, FrameType.Untyped, op.prop);
        counters.mapped++;
      }
      expectEvery(c, op, page, counters, false, () => true, 'absent right after map (lost PTE)');
      return;
    case 'unmap':
      c.jump(op.va);
      counters.unmapped += c.unmap(op.pages * page);
      return;
    case 'protect':
      c.jump(op.va);
      c.protect(op.pages * page, () => op.prop);
      expectEvery(c, op, page, counters, true, (prop) => prop === op.prop, 'without the property just set');
      counters.protectedPages += op.pages;
      return;
    case 'query':
      c.jump(op.va);
      for (let kind = c.query(); kind !== QUERY_END; kind = c.query()) {
        if (kind === QUERY_MAPPED) counters.queried += c.qLen / page;
      }
      return;
    case 'descend':
      for (let va = op.va, end = op.va + op.pages * page; va < end; ) {
        c.jump(va);
        if (!c.enterLeafNode())
          throw new MmError('InvalidArgument', `descend: a huge page at 0x${va.toString(16)}`);
        // The next page past this leaf node.
        const leafSpan = page * kernel.consts.nrEntries;
        va = Math.floor(va / leafSpan) * leafSpan + leafSpan;
      }
      return;
  }
}

/**
 * Re-reads the op's range under the same cursor: every mapped page must pass `ok`, and
 * unless `absentOk` every page must be mapped.
 */
function expectEvery(
  c: CursorMut,
  op: ParallelOp,
  page: number,
  counters: WorkerCounters,
  absentOk: boolean,
  ok: (prop: number) => boolean,
  what: string,
): void {
  c.jump(op.va);
  for (let kind = c.query(); kind !== QUERY_END; kind = c.query()) {
    if (kind === QUERY_MAPPED ? !ok(c.qProp) : !absentOk)
      counters.violations.push(`${op.op} 0x${c.qVa.toString(16)}+${c.qLen / page} pages: ${what}`);
  }
}
