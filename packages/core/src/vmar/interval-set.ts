import { MmError } from '../errors.ts';

/** Where the set reads an item's range: items are ids, their bounds live elsewhere (a component store). */
export interface IntervalBounds {
  start(id: number): number;
  end(id: number): number;
}

/** Items a set has room for at its first insert (it doubles as needed). */
const INITIAL_CAPACITY = 16;
/** The arrays of a set that never held an item (shared: never written, `grow` replaces them first). */
const NO_IDS = new Int32Array(0);
const NO_STARTS = new Float64Array(0);

/**
 * Arrays given back by released sets (`release`), by capacity, for the sets that grow next:
 * a typed array over 64 bytes lives outside the heap and costs microseconds to allocate and
 * collect, and each process's VMAR makes a set. At most `POOL_LIMIT` pairs per capacity.
 */
const pool = new Map<number, { ids: Int32Array<ArrayBuffer>; starts: Float64Array<ArrayBuffer> }[]>();
const POOL_LIMIT = 64;

/**
 * A set of disjoint intervals ordered by start, as Asterinas's `IntervalSet` (a B-tree
 * keyed by start) is used by the VMAR. Items are ids (non-negative integers) whose bounds
 * `bounds` gives; lookups return an id, or -1 for none.
 *
 * Storage is two typed arrays sorted by start: the ids and their starts (a copy, so the
 * binary search reads one array). Lookups are binary searches (O(log n)); inserting and
 * removing shift the tail (`copyWithin`, a memmove).
 *
 * Invariants: `starts[i] === bounds.start(ids[i])`; items are sorted by start, pairwise
 * disjoint, and every item is non-empty. `insert` refuses an item that would break them.
 * An item's range must not change while it is in the set.
 */
export class IntervalSet {
  private ids = NO_IDS;
  private starts = NO_STARTS;
  private n = 0;

  constructor(private readonly bounds: IntervalBounds) {}

  get size(): number {
    return this.n;
  }

  /** The id at position `i` (0 ≤ i < size) in ascending order. */
  idAt(i: number): number {
    return this.ids[i];
  }

  /** The start of the item at position `i`. */
  startAt(i: number): number {
    return this.starts[i];
  }

  /** The ids in ascending order (a snapshot: the set may then change). */
  values(): number[] {
    const out = new Array<number>(this.n);
    for (let i = 0; i < this.n; i++) out[i] = this.ids[i];
    return out;
  }

  /** Number of items whose start is `<= point`. */
  private upperBound(point: number): number {
    const starts = this.starts;
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] <= point) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Position of the first item that ends after `point` (items before it lie wholly at or below `point`). */
  private firstEndingAfter(point: number): number {
    const i = this.upperBound(point);
    return i > 0 && this.bounds.end(this.ids[i - 1]) > point ? i - 1 : i;
  }

  /** Inserts item `id`; throws `InvalidArgument` if it is empty or overlaps another. */
  insert(id: number): void {
    const start = this.bounds.start(id);
    const end = this.bounds.end(id);
    if (!(start < end)) {
      throw new MmError('InvalidArgument', `empty interval [0x${start.toString(16)}, 0x${end.toString(16)})`);
    }
    const i = this.upperBound(start);
    const n = this.n;
    if ((i > 0 && this.bounds.end(this.ids[i - 1]) > start) || (i < n && this.starts[i] < end)) {
      throw new MmError(
        'InvalidArgument',
        `interval [0x${start.toString(16)}, 0x${end.toString(16)}) overlaps an existing one`,
      );
    }
    if (n === this.ids.length) this.grow();
    const ids = this.ids;
    const starts = this.starts;
    if (i < n) {
      ids.copyWithin(i + 1, i, n);
      starts.copyWithin(i + 1, i, n);
    }
    ids[i] = id;
    starts[i] = start;
    this.n = n + 1;
  }

  /** Removes the item starting at `start` and returns its id, or -1 if none starts there. */
  remove(start: number): number {
    const i = this.upperBound(start) - 1;
    if (i < 0 || this.starts[i] !== start) return -1;
    const id = this.ids[i];
    const n = this.n;
    if (i + 1 < n) {
      this.ids.copyWithin(i, i + 1, n);
      this.starts.copyWithin(i, i + 1, n);
    }
    this.n = n - 1;
    return id;
  }

  /** The item containing `point`, or -1. */
  findOne(point: number): number {
    const i = this.upperBound(point) - 1;
    if (i < 0) return -1;
    const id = this.ids[i];
    return this.bounds.end(id) > point ? id : -1;
  }

  /** The items intersecting `[start, end)`, ascending (a snapshot: the set may then change). */
  find(start: number, end: number): number[] {
    const n = this.n;
    const starts = this.starts;
    const first = this.firstEndingAfter(start);
    let last = first;
    while (last < n && starts[last] < end) last++;
    // Sized once: an array grown by `push` gets room for 17 items at its first push.
    const out = new Array<number>(last - first);
    for (let i = first; i < last; i++) out[i - first] = this.ids[i];
    return out;
  }

  /** Whether any item intersects `[start, end)`. */
  intersects(start: number, end: number): boolean {
    const i = this.firstEndingAfter(start);
    return i < this.n && this.starts[i] < end;
  }

  /** The last item starting before `point`, or -1. */
  findPrev(point: number): number {
    const i = this.upperBound(point - 1) - 1;
    return i >= 0 ? this.ids[i] : -1;
  }

  /** The first item starting at or after `point`, or -1. */
  findNext(point: number): number {
    const i = this.upperBound(point - 1);
    return i < this.n ? this.ids[i] : -1;
  }

  /** The item with the highest start, or -1. */
  last(): number {
    return this.n > 0 ? this.ids[this.n - 1] : -1;
  }

  /** Removes every item. */
  clear(): void {
    this.n = 0;
  }

  /**
   * Removes every item and gives the arrays back for other sets to take (the owner is done
   * with the set, e.g. its address space is gone). The set stays usable: it grows anew.
   */
  release(): void {
    this.n = 0;
    if (this.ids.length > 0) giveBack(this.ids, this.starts);
    this.ids = NO_IDS;
    this.starts = NO_STARTS;
  }

  private grow(): void {
    const capacity = Math.max(INITIAL_CAPACITY, this.ids.length * 2);
    const reused = pool.get(capacity)?.pop();
    const ids = reused?.ids ?? new Int32Array(capacity);
    const starts = reused?.starts ?? new Float64Array(capacity);
    ids.set(this.ids);
    starts.set(this.starts);
    if (this.ids.length > 0) giveBack(this.ids, this.starts);
    this.ids = ids;
    this.starts = starts;
  }
}

/** Puts a set's arrays in the pool (dropped when the pool holds enough of their capacity). */
function giveBack(ids: Int32Array<ArrayBuffer>, starts: Float64Array<ArrayBuffer>): void {
  let free = pool.get(ids.length);
  if (free === undefined) {
    free = [];
    pool.set(ids.length, free);
  }
  if (free.length < POOL_LIMIT) free.push({ ids, starts });
}
