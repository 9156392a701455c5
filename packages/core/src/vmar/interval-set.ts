import { MmError } from '../errors.ts';

/** Something that covers the half-open range `[start, end)`, with `start < end`. */
export interface Interval {
  readonly start: number;
  readonly end: number;
}

/**
 * A set of disjoint intervals ordered by start, as Asterinas's `IntervalSet` (a B-tree
 * keyed by start) is used by the VMAR.
 *
 * Storage is one array sorted by `start`; lookups are binary searches (O(log n)), inserting
 * and removing shift the tail (a memmove, cheap for the few thousand mappings a process has).
 *
 * Invariants: items are sorted by `start`, pairwise disjoint, and every item is non-empty.
 * `insert` refuses an item that would break them. Items must not change their range while
 * they are in the set.
 */
export class IntervalSet<V extends Interval> {
  private readonly items: V[] = [];

  get size(): number {
    return this.items.length;
  }

  /** The items in ascending order. The array is live: do not mutate the set while iterating it. */
  values(): readonly V[] {
    return this.items;
  }

  /** Number of items whose start is `<= point`. */
  private upperBound(point: number): number {
    const items = this.items;
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (items[mid].start <= point) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first item that ends after `point` (items before it lie wholly at or below `point`). */
  private firstEndingAfter(point: number): number {
    const i = this.upperBound(point);
    return i > 0 && this.items[i - 1].end > point ? i - 1 : i;
  }

  /** Inserts an item; throws `InvalidArgument` if it is empty or overlaps another. */
  insert(item: V): void {
    if (!(item.start < item.end)) {
      throw new MmError(
        'InvalidArgument',
        `empty interval [0x${item.start.toString(16)}, 0x${item.end.toString(16)})`,
      );
    }
    const i = this.upperBound(item.start);
    const items = this.items;
    if ((i > 0 && items[i - 1].end > item.start) || (i < items.length && items[i].start < item.end)) {
      throw new MmError(
        'InvalidArgument',
        `interval [0x${item.start.toString(16)}, 0x${item.end.toString(16)}) overlaps an existing one`,
      );
    }
    items.splice(i, 0, item);
  }

  /** Removes and returns the item starting at `start`, if any. */
  remove(start: number): V | undefined {
    const i = this.upperBound(start) - 1;
    if (i < 0 || this.items[i].start !== start) return undefined;
    return this.items.splice(i, 1)[0];
  }

  /** The item containing `point`, if any. */
  findOne(point: number): V | undefined {
    const i = this.upperBound(point) - 1;
    if (i < 0) return undefined;
    const item = this.items[i];
    return item.end > point ? item : undefined;
  }

  /** The items intersecting `[start, end)`, ascending (a snapshot: the set may then change). */
  find(start: number, end: number): V[] {
    const out: V[] = [];
    const items = this.items;
    for (let i = this.firstEndingAfter(start); i < items.length && items[i].start < end; i++)
      out.push(items[i]);
    return out;
  }

  /** Whether any item intersects `[start, end)`. */
  intersects(start: number, end: number): boolean {
    const i = this.firstEndingAfter(start);
    return i < this.items.length && this.items[i].start < end;
  }

  /** The last item starting before `point`. */
  findPrev(point: number): V | undefined {
    const i = this.upperBound(point - 1) - 1;
    return i >= 0 ? this.items[i] : undefined;
  }

  /** The first item starting at or after `point`. */
  findNext(point: number): V | undefined {
    const i = this.upperBound(point - 1);
    return i < this.items.length ? this.items[i] : undefined;
  }

  /** The item with the highest start. */
  last(): V | undefined {
    return this.items[this.items.length - 1];
  }

  /** Removes every item. */
  clear(): void {
    this.items.length = 0;
  }
}
