import { MmError } from '@mmkit/core';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/archs.ts';
import { exitFor } from '../src/exit.ts';

describe('the exit-status rule', () => {
  function writeError(code: string, reason: string): NodeJS.ErrnoException {
    return Object.assign(new Error(`${code}: ${reason}, write`), { code, syscall: 'write' });
  }

  it('maps every way a command can end to one status and at most one line', () => {
    expect(exitFor(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'))).toEqual({ status: 0 });
    expect(exitFor(new CommanderError(1, 'commander.unknownOption', 'unknown'))).toEqual({ status: 2 });
    expect(exitFor(new UsageError('bad size'))).toEqual({ status: 2, line: 'mmkit: bad size' });
    expect(exitFor(new MmError('OutOfFrames', 'no free frame left'))).toEqual({
      status: 2,
      line: 'mmkit: OutOfFrames: no free frame left',
    });
    expect(exitFor(writeError('ENOSPC', 'no space left on device'))).toEqual({
      status: 2,
      line: 'mmkit: cannot write the output: no space left on device (ENOSPC)',
    });
    expect(exitFor(writeError('EPIPE', 'broken pipe'))).toEqual({ status: 0 });
    const bug = exitFor(
      new Error('replay: line 3: x is undefined', { cause: new TypeError('x is undefined') }),
    );
    expect(bug.status).toBe(3);
    expect(bug.line).toMatch(/^mmkit: internal error: Error: replay: line 3: x is undefined\n\s+at /);
    expect(bug.line).toMatch(/\ncaused by: TypeError: x is undefined\n/);
  });
});
