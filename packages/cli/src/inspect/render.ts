import { UsageError } from '../archs.ts';
import { formatFrames, formatMaps, formatPageTable, formatPmap, formatSmaps } from './format.ts';
import type { TraceSession } from './session.ts';
import type { InspectState } from './state.ts';

export const INSPECT_FORMATS = ['maps', 'smaps', 'pmap', 'pt', 'frames', 'json'] as const;
export type InspectFormat = (typeof INSPECT_FORMATS)[number];

/** The view `format` of `state`, as lines of text (`json`: one line). */
export function renderInspect(format: InspectFormat, session: TraceSession, state: InspectState): string[] {
  const kernel = session.replayer.kernel;
  switch (format) {
    case 'maps':
      return formatMaps(state);
    case 'smaps':
      return formatSmaps(state);
    case 'pmap':
      return formatPmap(state);
    case 'pt':
      return formatPageTable(state.pageTable, state.pid, state.range, kernel.consts, kernel.ctx.sizes);
    case 'frames':
      return formatFrames(state.frames);
    case 'json':
      return [JSON.stringify(state)];
  }
}

/** Checks a `--format` value. */
export function parseInspectFormat(text: string): InspectFormat {
  if (!(INSPECT_FORMATS as readonly string[]).includes(text))
    throw new UsageError(`unknown format '${text}' (known: ${INSPECT_FORMATS.join(', ')})`);
  return text as InspectFormat;
}
