import { IntervalSet, MmError } from '@mmkit/core';
import { describe, expect, it } from 'vitest';

/** Bounds of ids kept in plain arrays: `add(start, end)` returns a new id. */
function bounds() {
  const starts: number[] = [];
  const ends: number[] = [];
  return {
    start: (id: number) => starts[id],
    end: (id: number) => ends[id],
    add(start: number, end: number): number {
      starts.push(start);
      ends.push(end);
      return starts.length - 1;
    },
  };
}

describe('IntervalSet', () => {
  it('gives its arrays back on release, and sets that reuse them hold only their own items', () => {
    const b = bounds();
    const released: IntervalSet[] = [];
    for (let k = 0; k < 3; k++) {
      const s = new IntervalSet(b);
      // 40 items: the set grows through capacities 16, 32 and 64, giving back the smaller arrays.
      for (let i = 0; i < 40; i++) s.insert(b.add(1000 * k + 10 * i, 1000 * k + 10 * i + 5));
      released.push(s);
    }
    for (const s of released) s.release();
    expect(released.map((s) => s.size)).toEqual([0, 0, 0]);
    // New sets take pooled arrays (stale items in them are past the set's size).
    const fresh = new IntervalSet(b);
    const ids = [b.add(7, 9), b.add(3, 5), b.add(20, 30)];
    for (const id of ids) fresh.insert(id);
    expect(fresh.values().map(b.start)).toEqual([3, 7, 20]);
    expect(fresh.findOne(1005)).toBe(-1);
    expect(fresh.find(0, 5000).length).toBe(3);
    // A released set is empty and usable again.
    const again = released[0];
    expect(again.findOne(12)).toBe(-1);
    again.insert(b.add(100, 200));
    expect(again.values().map(b.start)).toEqual([100]);
    expect(fresh.values().map(b.start)).toEqual([3, 7, 20]);
  });

  it('keeps ids ordered by start and finds by point, range, predecessor and successor', () => {
    const b = bounds();
    const s = new IntervalSet(b);
    for (const [lo, hi] of [
      [30, 40],
      [10, 20],
      [50, 60],
    ])
      s.insert(b.add(lo, hi));
    const start = (id: number) => (id < 0 ? undefined : b.start(id));
    expect(s.values().map(b.start)).toEqual([10, 30, 50]);
    expect([0, 1, 2].map((i) => s.startAt(i))).toEqual([10, 30, 50]);
    expect(s.idAt(0)).toBe(1);
    expect(start(s.findOne(10))).toBe(10);
    expect(start(s.findOne(19))).toBe(10);
    expect(s.findOne(20)).toBe(-1);
    expect(s.findOne(9)).toBe(-1);
    expect(s.find(15, 35).map(b.start)).toEqual([10, 30]);
    expect(s.find(20, 30)).toEqual([]);
    expect(s.find(0, 100).length).toBe(3);
    expect(s.intersects(40, 50)).toBe(false);
    expect(s.intersects(39, 41)).toBe(true);
    expect(start(s.findPrev(30))).toBe(10);
    expect(start(s.findPrev(31))).toBe(30);
    expect(s.findPrev(10)).toBe(-1);
    expect(start(s.findNext(30))).toBe(30);
    expect(start(s.findNext(31))).toBe(50);
    expect(s.findNext(51)).toBe(-1);
    expect(start(s.last())).toBe(50);
  });

  it('refuses overlapping and empty items and removes by start', () => {
    const b = bounds();
    const s = new IntervalSet(b);
    s.insert(b.add(10, 20));
    expect(() => s.insert(b.add(19, 25))).toThrow(MmError);
    expect(() => s.insert(b.add(5, 11))).toThrow(MmError);
    expect(() => s.insert(b.add(12, 13))).toThrow(MmError);
    expect(() => s.insert(b.add(30, 30))).toThrow(MmError);
    s.insert(b.add(20, 25));
    s.insert(b.add(5, 10));
    expect(s.remove(11)).toBe(-1);
    expect(b.end(s.remove(10))).toBe(20);
    expect(s.values().map(b.start)).toEqual([5, 20]);
    s.clear();
    expect(s.size).toBe(0);
    expect(s.last()).toBe(-1);
  });

  it('grows past its first arrays and keeps order under inserts and removes in any order', () => {
    const b = bounds();
    const s = new IntervalSet(b);
    const order = Array.from({ length: 200 }, (_, i) => (i * 73) % 200);
    for (const i of order) s.insert(b.add(i * 10, i * 10 + 5));
    expect(s.size).toBe(200);
    const starts = Array.from({ length: s.size }, (_, i) => s.startAt(i));
    expect(starts).toEqual(Array.from({ length: 200 }, (_, i) => i * 10));
    for (const i of order.slice(0, 100)) expect(s.remove(i * 10)).toBeGreaterThanOrEqual(0);
    const left = s.values().map(b.start);
    expect(left).toEqual(
      order
        .slice(100)
        .map((i) => i * 10)
        .sort((x, y) => x - y),
    );
    for (let i = 0; i < s.size; i++) expect(b.start(s.idAt(i))).toBe(s.startAt(i));
  });
});
