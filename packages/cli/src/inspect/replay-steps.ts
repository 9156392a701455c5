import type { Arch, PluginSpec } from '@mmkit/core';
import { UsageError } from '../archs.ts';
import { formatOpEvents, OpEventRecorder } from './op-events.ts';
import { type InspectFormat, renderInspect } from './render.ts';
import { TraceSession } from './session.ts';
import { inspectState } from './state.ts';

export interface ReplayStepsOptions {
  arch: Arch;
  plugins: readonly PluginSpec[];
  /** Storage layout of the replaying kernel (default `soa`). */
  layout?: string;
  /** Print what happened inside the kernel for every op. */
  events: boolean;
  /** JSON Lines instead of text. */
  json: boolean;
  /** Stop after this line and print the state (default: replay everything, print no state). */
  until?: number;
  /** The state's view and process (`--format`, `--pid`). */
  format: InspectFormat;
  pid?: number;
  /** Run `kernel.check()` after every op; `onViolations` hears the first violation and the replay stops. */
  check?: boolean;
  onViolations?: (line: number, violations: string[]) => void;
}

/**
 * `mmkit replay --events` / `--until`: replays `path` line by line. Per line it prints the
 * result line, and with `events` what happened inside the kernel (as text under the result,
 * or one JSON object per line: `{"line","op","result","events"}`). With `until` it stops
 * after that line and prints the state in `format` (JSON: `{"state": …}` as the last line).
 * Returns false when `check` found a violated invariant (the replay stopped there).
 */
export function runReplaySteps(
  path: string,
  opts: ReplayStepsOptions,
  out: (chunk: string) => void,
): boolean {
  const session = TraceSession.open(path, { arch: opts.arch, plugins: opts.plugins, layout: opts.layout });
  const last = opts.until ?? session.nrLines;
  if (last > session.nrLines) throw new UsageError(`--until ${last}: ${path} has ${session.nrLines} lines`);
  const recorder = opts.events ? new OpEventRecorder(session.replayer.kernel) : null;
  const header = '{"mmtrace":1}';
  let lastResult = header;
  const emit = (line: number, text: string, result: string): void => {
    lastResult = result;
    if (opts.json) {
      const rec = {
        line,
        op: JSON.parse(text),
        result: JSON.parse(result),
        ...(recorder ? { events: recorder.take() } : {}),
      };
      out(`${JSON.stringify(rec)}\n`);
    } else if (recorder) {
      const inside = formatOpEvents(recorder.take()).map((l) => `    ${l}\n`);
      out(`line ${line}: ${text}\n  -> ${result}\n${inside.join('')}`);
    } else out(`${result}\n`);
  };
  try {
    emit(1, session.lines[0], header);
    while (session.line < last) {
      const step = session.next();
      emit(step.line, step.text, step.result);
      const violations = opts.check ? session.replayer.check() : [];
      if (violations.length > 0) {
        opts.onViolations?.(
          step.line,
          violations.map((v) => `[${v.kind}] ${v.message}`),
        );
        return false;
      }
    }
  } finally {
    recorder?.detach();
  }
  if (opts.until === undefined) return true;
  const state = inspectState(session, lastResult, { pid: opts.pid });
  if (opts.json) out(`${JSON.stringify({ state })}\n`);
  else {
    out(`== state after line ${session.line} of ${session.nrLines}, pid ${state.pid} (${opts.format}) ==\n`);
    out(`${renderInspect(opts.format, session, state).join('\n')}\n`);
  }
  return true;
}
