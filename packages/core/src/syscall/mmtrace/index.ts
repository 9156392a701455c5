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
