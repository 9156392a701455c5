import { MmError } from '../errors.ts';
import type { Frames } from '../frame/frames.ts';
import type { FrameMetaStore } from '../frame/meta-store.ts';
import { lockOwner } from './lock.ts';

/**
 * Deferred free of detached page-table nodes: a grace period in the manner of RCU, as
 * Asterinas drops a detached (`stray`) node only after every reader that might still hold
 * its address has gone.
 *
 * Why: under the `subtree` protocol a cursor walks down to its guard node without locks,
 * then locks the node it reached and starts again if that node turned `stray`. If a node
 * detached meanwhile were freed at once, its frame could be allocated again (which clears
 * `stray` and the lock word) and the late walker would lock a node that now sits elsewhere
 * in the tree, or in another one, and pass the stray check. So a detached node is
 * *retired*: it stays a `PageTable` frame, marked stray, unreachable and empty, and the
 * reference its parent's PTE held becomes a handle of this list; it is freed once no
 * reader that started before the detach is alive.
 *
 * Epochs, in an `Int32Array` shared by every view of the kernel (`SharedArrayBuffer` in
 * shared memory): word `GLOBAL` is the global epoch (starts at 1, bumped by every retire);
 * word `viewWord(b)` is the epoch at which owner block `b`'s view entered its read side, 0
 * while it has no reader (one cache line per word, and a line of padding before the first
 * and after the last, away from other buffers' words). A view enters its read side when its first reader (a `subtree` cursor) is
 * created and leaves it when its last one is dropped. A node retired at epoch `E` (the
 * global epoch just before the bump) is freed when every active word is above `E`: a
 * reader that entered at `E + 1` or later read the global epoch after the PTE was cleared
 * (the bump is a sequentially consistent read-modify-write after the clear), so it cannot
 * have read the old PTE.
 *
 * Retired nodes belong to the view that retired them (the list is per view, on its
 * thread); they are freed when that view's last reader leaves, or by `synchronize()`,
 * which waits for the other views' readers. `hoh` and `global` never need this: there a
 * node is only reached under its parent's lock (or the table's), so a detached node is
 * unreachable the moment its parent's PTE is cleared, and recycling frees it at once.
 *
 * The same buffer holds the node-link generation (`linkGeneration`), shared by every view
 * for the same reason: it is bumped whenever a node of any view is freed or relinked, and
 * `LeafSlot`'s walk cache compares it to decide whether a node found earlier still sits
 * where it was found.
 *
 * Limits: the epoch is an `Int32`; it would wrap after 2^31 - 1 retires, which is refused
 * (`InvalidArgument`) rather than wrapped.
 */
/**
 * Words between two epoch words: 128 bytes, so that each view's word (and the global epoch)
 * sits on a 64-byte cache line of its own, not paired with a neighbour's by the adjacent-line
 * prefetch, and one thread's cursor creation does not take the line the other threads'
 * cursors write.
 */
const EPOCH_STRIDE = 32;
/** The global epoch's word, one stride into the buffer. */
const GLOBAL = EPOCH_STRIDE;
/** The node-link generation's word (`linkGeneration`), on a line of its own. */
const LINK_GENERATION = 2 * EPOCH_STRIDE;
/** Owner block `b`'s word. */
const viewWord = (b: number) => EPOCH_STRIDE * (3 + b);
/** `Int32`s of the epochs of `nrBlocks` views (a stride of padding at either end). */
const epochWords = (nrBlocks: number) => EPOCH_STRIDE * (nrBlocks + 4);

export class NodeReclaim {
  /** The global epoch and the active-since epoch of owner blocks 0, 1, ... (see the class comment). */
  private readonly epochs: Int32Array;
  /** Whether the epochs are on a `SharedArrayBuffer` other views may share. */
  private readonly shared: boolean;
  /**
   * SMP mode (`enterSmp`): other views may read and write the epochs, so every access is an
   * `Atomics` one. Off on a private buffer and on a shared one while its kernel has one view
   * (UP mode: plain accesses to the same words, in the same order).
   */
  private atomic: boolean;
  /** This view's word in `epochs` (`viewWord` of its owner block). */
  private slot = viewWord(0);
  /** This view's live readers. */
  private nrReaders = 0;
  /** Retired nodes and the epoch each was retired at, oldest first. */
  private readonly retiredPfn: number[] = [];
  private readonly retiredEpoch: number[] = [];
  /** Retired nodes freed so far by this view. */
  nrFreed = 0;

  constructor(
    private readonly frames: Frames,
    private readonly meta: FrameMetaStore,
    /** Number of owner blocks (views) that may share the epochs. */
    private readonly nrBlocks: number,
    /** Shared epochs of another view (attach), or a fresh buffer; omit for one thread only. */
    buffer?: SharedArrayBuffer,
    /** Whether `buffer` is another view's (SMP mode from the start), not a fresh one. */
    attached = false,
  ) {
    this.shared = buffer !== undefined;
    this.atomic = attached;
    this.epochs = new Int32Array(buffer ?? new ArrayBuffer(4 * epochWords(nrBlocks)));
    if (this.epochs.length !== epochWords(nrBlocks))
      throw new MmError(
        'InvalidConfig',
        `node-reclaim epochs hold ${this.epochs.length / EPOCH_STRIDE - 4} views, not ${nrBlocks}`,
      );
    // A fresh buffer starts at epoch 1 (0 marks a view without readers); an attached one runs.
    if (!attached) this.epochs[GLOBAL] = 1;
    else Atomics.compareExchange(this.epochs, GLOBAL, 0, 1);
  }

  /**
   * SMP mode for good: another view may attach to these epochs from now on. Plain writes
   * made before reach that view's thread through whatever hands it the buffer (a worker
   * starts after the `postMessage` that carries it).
   */
  enterSmp(): void {
    if (!this.shared) throw new MmError('InvalidArgument', 'the node-reclaim epochs are not shared');
    this.atomic = true;
  }

  /** A buffer for `nrBlocks` views' epochs, to share between views (`SharedKernelState`). */
  static sharedBuffer(nrBlocks: number): SharedArrayBuffer {
    return new SharedArrayBuffer(4 * epochWords(nrBlocks));
  }

  /** The shared epochs (shared mode), for another view's constructor. */
  buffer(): SharedArrayBuffer | null {
    return this.shared ? (this.epochs.buffer as SharedArrayBuffer) : null;
  }

  /** Uses owner block `block`'s epoch word (one per view; see `PageTableContext.setOwnerBlock`). */
  setBlock(block: number): void {
    if (this.nrReaders !== 0)
      throw new MmError('InvalidArgument', 'a reader is alive: the view cannot change blocks');
    this.slot = viewWord(block);
  }

  /**
   * A reader (a cursor that walks without locks) starts: nodes retired from now on are not
   * freed until it ends. The first reader of the view publishes the global epoch, and
   * publishes it again if a retire bumped it meanwhile (so that no retire can have looked
   * at the word before it was published and still be older than it). The first read of the
   * global epoch is a plain one (an `Atomics.load` is a builtin call of about 8 ns on Node
   * 20, and this runs at every `subtree` cursor and fault): a stale value is older, so it
   * only holds retired nodes longer, and the `Atomics.load` after the publishing store
   * sends it round the loop again.
   */
  enter(): void {
    if (this.nrReaders++ !== 0) return;
    const epochs = this.epochs;
    if (!this.atomic) {
      epochs[this.slot] = epochs[GLOBAL];
      return;
    }
    let e = epochs[GLOBAL];
    for (;;) {
      Atomics.store(epochs, this.slot, e);
      const now = Atomics.load(epochs, GLOBAL);
      if (now === e) return;
      e = now;
    }
  }

  /** A reader ends; when it was the view's last, retired nodes past their grace period are freed. */
  leave(): void {
    if (this.nrReaders === 0) throw new MmError('InvalidArgument', 'no reader to leave');
    if (--this.nrReaders !== 0) return;
    if (this.atomic) Atomics.store(this.epochs, this.slot, 0);
    else this.epochs[this.slot] = 0;
    if (this.retiredPfn.length !== 0) this.reclaim();
  }

  /**
   * Retires node `pfn`, which the caller just detached (its parent's PTE is cleared) and
   * marked stray: the parent's reference becomes this list's handle, and the node is
   * freed after the grace period.
   */
  retire(pfn: number): void {
    if (this.meta.handles(pfn) !== 0 || !this.meta.stray(pfn))
      throw new MmError('BadFrameState', `node ${pfn} is retired while still attached or referenced`);
    this.meta.setHandles(pfn, 1);
    const e = this.atomic ? Atomics.add(this.epochs, GLOBAL, 1) : this.epochs[GLOBAL]++;
    if (e === 0x7fff_fffe) throw new MmError('InvalidArgument', 'node-reclaim epoch exhausted');
    this.retiredPfn.push(pfn);
    this.retiredEpoch.push(e);
  }

  /**
   * Frees the retired nodes that no live reader (of any view) can still reach; returns
   * how many are left.
   */
  reclaim(): number {
    const oldest = this.oldestReader();
    const pfns = this.retiredPfn;
    const epochs = this.retiredEpoch;
    let n = 0;
    while (n < pfns.length && epochs[n] < oldest) n++;
    if (n === 0) return pfns.length;
    const freed = pfns.splice(0, n);
    epochs.splice(0, n);
    for (const pfn of freed) {
      const owner = lockOwner(this.meta, pfn);
      if (owner !== 0)
        throw new MmError(
          'BadFrameState',
          `retired node ${pfn} is locked by owner ${owner} after its grace period`,
        );
      this.frames.put(pfn);
    }
    this.nrFreed += n;
    return pfns.length;
  }

  /**
   * Frees every retired node of this view, waiting (polling every millisecond) for the
   * readers of other views to end; this view must have no live reader. Throws `CursorBusy`
   * after `timeoutMs` if some reader stays alive.
   */
  synchronize(timeoutMs = 10_000): void {
    if (this.nrReaders !== 0)
      throw new MmError('InvalidArgument', 'synchronize with a live reader in this view would never end');
    const deadline = Date.now() + timeoutMs;
    while (this.reclaim() !== 0) {
      if (Date.now() > deadline)
        throw new MmError(
          'CursorBusy',
          `${this.retiredPfn.length} retired nodes wait for readers of other views`,
        );
      if (this.atomic) Atomics.wait(this.epochs, GLOBAL, Atomics.load(this.epochs, GLOBAL), 1);
    }
  }

  /**
   * The node-link generation: bumped (`bumpLinkGeneration`) whenever a page-table node of
   * any view sharing these epochs is freed (its drop hook, before its frame goes back to the
   * allocator) or its entry moves to another slot (`movePtes`, before the move's cursor
   * releases its locks). While it reads the same, a node found at some place earlier is
   * still linked there or, if detached meanwhile, still allocated and `stray`. An `Int32`
   * that wraps: it is only compared for equality. SMP mode: `Atomics.load`.
   */
  linkGeneration(): number {
    return this.atomic ? Atomics.load(this.epochs, LINK_GENERATION) : this.epochs[LINK_GENERATION];
  }

  /** Bumps the node-link generation (see `linkGeneration`); SMP mode: `Atomics.add`. */
  bumpLinkGeneration(): void {
    if (this.atomic) Atomics.add(this.epochs, LINK_GENERATION, 1);
    else this.epochs[LINK_GENERATION]++;
  }

  /** Nodes retired by this view and not freed yet. */
  get nrRetired(): number {
    return this.retiredPfn.length;
  }

  /** The nodes retired by this view and not freed yet (for `check()`). */
  retiredNodes(): readonly number[] {
    return this.retiredPfn;
  }

  /** The oldest epoch at which a live reader of any view entered (`+Infinity` if none). */
  private oldestReader(): number {
    const epochs = this.epochs;
    let oldest = Number.POSITIVE_INFINITY;
    const end = viewWord(this.nrBlocks);
    for (let i = viewWord(0); i < end; i += EPOCH_STRIDE) {
      const e = this.atomic ? Atomics.load(epochs, i) : epochs[i];
      if (e !== 0 && e < oldest) oldest = e;
    }
    return oldest;
  }
}
