import { IntervalSet, MmError } from '@mmkit/core';
import { describe, expect, it } from 'vitest';

const iv = (start: number, end: number) => ({ start, end });

describe('IntervalSet', () => {
  it('keeps items ordered by start and finds by point, range, predecessor and successor', () => {
    const s = new IntervalSet<{ start: number; end: number }>();
    for (const [a, b] of [
      [30, 40],
      [10, 20],
      [50, 60],
    ])
      s.insert(iv(a, b));
    expect(s.values().map((x) => x.start)).toEqual([10, 30, 50]);
    expect(s.findOne(10)?.start).toBe(10);
    expect(s.findOne(19)?.start).toBe(10);
    expect(s.findOne(20)).toBeUndefined();
    expect(s.findOne(9)).toBeUndefined();
    expect(s.find(15, 35).map((x) => x.start)).toEqual([10, 30]);
    expect(s.find(20, 30)).toEqual([]);
    expect(s.find(0, 100).length).toBe(3);
    expect(s.intersects(40, 50)).toBe(false);
    expect(s.intersects(39, 41)).toBe(true);
    expect(s.findPrev(30)?.start).toBe(10);
    expect(s.findPrev(31)?.start).toBe(30);
    expect(s.findPrev(10)).toBeUndefined();
    expect(s.findNext(30)?.start).toBe(30);
    expect(s.findNext(31)?.start).toBe(50);
    expect(s.findNext(51)).toBeUndefined();
    expect(s.last()?.start).toBe(50);
  });

  it('refuses overlapping and empty items and removes by start', () => {
    const s = new IntervalSet<{ start: number; end: number }>();
    s.insert(iv(10, 20));
    expect(() => s.insert(iv(19, 25))).toThrow(MmError);
    expect(() => s.insert(iv(5, 11))).toThrow(MmError);
    expect(() => s.insert(iv(12, 13))).toThrow(MmError);
    expect(() => s.insert(iv(30, 30))).toThrow(MmError);
    s.insert(iv(20, 25));
    s.insert(iv(5, 10));
    expect(s.remove(11)).toBeUndefined();
    expect(s.remove(10)?.end).toBe(20);
    expect(s.values().map((x) => x.start)).toEqual([5, 20]);
    s.clear();
    expect(s.size).toBe(0);
  });
});
