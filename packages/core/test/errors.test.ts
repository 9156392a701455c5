import { describe, expect, it } from 'vitest';
import { fail, MmError } from '../src/errors.ts';

function thrownBy(fn: () => unknown): MmError {
  try {
    fn();
  } catch (e) {
    if (e instanceof MmError) return e;
    throw e;
  }
  throw new Error('nothing was thrown');
}

describe('MmError', () => {
  it('CursorBusy is typed and keeps its message, without a stack trace', () => {
    const e = thrownBy(() => fail('CursorBusy', 'page-table node 7 (level 2) is locked by another cursor'));
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('CursorBusy');
    expect(e.name).toBe('MmError');
    expect(e.message).toBe('CursorBusy: page-table node 7 (level 2) is locked by another cursor');
    expect(e.stack).toBe(`MmError: ${e.message}`);
  });

  it('other codes keep their stack trace, and the limit is restored', () => {
    const limit = Error.stackTraceLimit;
    const busy = thrownBy(() => fail('CursorBusy', 'x'));
    expect(busy.stack).toBe('MmError: CursorBusy: x');
    expect(Error.stackTraceLimit).toBe(limit);
    const e = thrownBy(() => fail('InvalidArgument', 'bad length'));
    expect(e.code).toBe('InvalidArgument');
    expect(e.stack?.split('\n').length).toBeGreaterThan(1);
    expect(e.stack).toContain('errors.test.ts');
  });
});
