import { readFileSync } from 'node:fs';
import { type Arch, MmError, type PluginSpec, parseOp, Replayer, traceError } from '@mmkit/core';
import { UsageError } from '../archs.ts';

export interface TraceSessionOptions {
  arch: Arch;
  plugins: readonly PluginSpec[];
  /** Storage layout of the replaying kernel's component families (default `soa`). */
  layout?: string;
}

/** One executed trace line: its number (1-based, as in the file), text and result line. */
export interface StepResult {
  line: number;
  text: string;
  result: string;
}

/**
 * A trace being replayed one line at a time, so that the model's state can be looked at
 * between two lines. Line 1 (the header) is executed by the constructor; `next` executes
 * the following line. Errors name the file and the line, as `mmkit replay` does.
 */
export class TraceSession {
  readonly replayer: Replayer;
  /** The trace's lines, without the file's final empty line. */
  readonly lines: readonly string[];
  /** Number of the last executed line (1 after the header). */
  private done = 1;

  constructor(
    readonly path: string,
    text: string,
    opts: TraceSessionOptions,
  ) {
    const lines = text.split('\n');
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    this.lines = lines;
    this.replayer = this.guard(1, () => {
      if (lines.length === 0) throw traceError(1, 'empty trace (no header)');
      return new Replayer(lines[0], { arch: opts.arch, plugins: opts.plugins, layout: opts.layout });
    });
  }

  /** Opens the trace file at `path`; an unreadable file is a `UsageError`. */
  static open(path: string, opts: TraceSessionOptions): TraceSession {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new UsageError(
        `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
    return new TraceSession(path, text, opts);
  }

  /** Number of lines in the trace, the header included. */
  get nrLines(): number {
    return this.lines.length;
  }

  /** Number of the last executed line. */
  get line(): number {
    return this.done;
  }

  get atEnd(): boolean {
    return this.done >= this.lines.length;
  }

  /** Executes the next line; returns what it did. Throws `UsageError` past the end or on a bad line. */
  next(): StepResult {
    if (this.atEnd) throw new UsageError(`${this.path}: no line after line ${this.done}`);
    const line = this.done + 1;
    const text = this.lines[line - 1];
    const result = this.guard(line, () => {
      const op = parseOp(text, line, this.replayer.header);
      return this.replayer.step(op, line);
    });
    this.done = line;
    return { line, text, result };
  }

  /** Executes every line up to and including `line` (1 = the header only). */
  runTo(line: number): void {
    if (!Number.isInteger(line) || line < this.done || line > this.lines.length) {
      throw new UsageError(
        `${this.path}: line ${line} is not between ${this.done} and ${this.lines.length} (the trace's last line)`,
      );
    }
    while (this.done < line) this.next();
  }

  /** Runs `f`; a malformed line becomes a `UsageError` naming the file, anything else names the line too. */
  private guard<T>(line: number, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof UsageError) throw e;
      if (e instanceof MmError && e.code === 'MalformedTrace')
        throw new UsageError(`${this.path}: ${e.message.slice(e.code.length + 2)}`);
      throw new UsageError(`${this.path}: line ${line}: internal error: ${(e as Error).message}`);
    }
  }
}

/** Parses a line-number option (`--at 12`, `--until 12`). */
export function parseLineNumber(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`bad ${what} '${text}': expected a line number (1 = the header)`);
  return n;
}
