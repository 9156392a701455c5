export {
  parseHeader,
  parseOp,
  type TraceContext,
  type TraceHeader,
  type TraceOp,
  traceError,
} from './parse.ts';
export { REPLAY_MEMORY, Replayer, type ReplayOptions, replayLines } from './replayer.ts';
export { ScannedOp, scanLine, scanLineBytes } from './scan.ts';
export {
  WIDE_ADDR,
  WIDE_DELTA,
  WIDE_LEN,
  WIDE_NEW_ADDR,
  WIDE_NEW_LEN,
  WIDE_OFFSET,
  WIDE_OLD_LEN,
} from './scan-names.ts';
