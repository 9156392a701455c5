import { readFileSync } from 'node:fs';
import { UsageError } from './archs.ts';

/** Longest rendering of one line in a difference report. */
const MAX_SHOWN = 400;

function shown(line: string): string {
  return line.length <= MAX_SHOWN ? line : `${line.slice(0, MAX_SHOWN)}… (${line.length} characters)`;
}

/** The lines of a result file (as `replay` prints them: one per trace line, each ended by `\n`). */
export function readResultLines(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * Compares the result lines a replay produces, chunk by chunk as they come, with an expected
 * result file, and remembers the first line that differs. Result line `i` belongs to trace
 * line `i` (line 1 is the header's), so the report can show the op that gave it.
 */
export class ResultComparison {
  private pending = '';
  private nrGot = 0;
  /** 0-based index of the first differing line, or -1 while every line matched. */
  private firstDiff = -1;
  private gotAtDiff: string | undefined;

  constructor(
    private readonly expected: readonly string[],
    private readonly traceLines: readonly string[],
  ) {}

  /** Takes a chunk of replay output (whole lines, each ended by `\n`). */
  add(chunk: string): void {
    const lines = (this.pending + chunk).split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) {
      if (this.firstDiff < 0 && this.expected[this.nrGot] !== line) {
        this.firstDiff = this.nrGot;
        this.gotAtDiff = line;
      }
      this.nrGot++;
    }
  }

  /** Whether the replay gave exactly the expected lines (call after the last chunk). */
  get matches(): boolean {
    return this.firstDiff < 0 && this.nrGot === this.expected.length;
  }

  /** The verdict as printed by `replay --expect`: one line on a match, the first difference otherwise. */
  report(expectedPath: string): string {
    if (this.matches) return `match: all ${this.nrGot} result lines equal ${expectedPath}\n`;
    // Every replayed line matched but one side is longer: the difference is where the shorter ends.
    const at = this.firstDiff >= 0 ? this.firstDiff : Math.min(this.nrGot, this.expected.length);
    const expected = this.expected[at];
    const got = this.firstDiff >= 0 ? this.gotAtDiff : undefined;
    const op = this.traceLines[at];
    return [
      `difference at line ${at + 1} (the replay gave ${this.nrGot} lines, ${expectedPath} has ${this.expected.length}):`,
      `  op:       ${op === undefined || op === '' ? '(none: the trace has no such line)' : shown(op)}`,
      `  expected: ${expected === undefined ? `(none: ${expectedPath} ends before it)` : shown(expected)}`,
      `  got:      ${got === undefined ? '(none: the replay ended before it)' : shown(got)}`,
      '',
    ].join('\n');
  }
}
