import cliProgress from 'cli-progress';

/** What the runner reports while it works. */
export interface Progress {
  start(total: number): void;
  step(label: string): void;
  log(line: string): void;
  stop(): void;
}

/** A progress bar on stderr (cli-progress); plain lines, one per job, when stderr is not a TTY. */
export function stderrProgress(): Progress {
  const tty = process.stderr.isTTY === true;
  let bar: cliProgress.SingleBar | null = null;
  let done = 0;
  let total = 0;
  return {
    start(n) {
      total = n;
      done = 0;
      if (!tty) return;
      bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          noTTYOutput: true,
          notTTYSchedule: 60_000,
          format: 'bench [{bar}] {value}/{total} {label}',
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(n, 0, { label: '' });
    },
    step(label) {
      if (bar) bar.update(done, { label });
      else process.stderr.write(`[${done + 1}/${total}] ${label}\n`);
      done++;
    },
    log(line) {
      if (bar) {
        bar.stop();
        process.stderr.write(`${line}\n`);
        bar.start(total, done, { label: '' });
      } else process.stderr.write(`${line}\n`);
    },
    stop() {
      if (bar) {
        bar.update(done, { label: 'done' });
        bar.stop();
      }
      bar = null;
    },
  };
}

/** No output at all (tests). */
export const silentProgress: Progress = { start() {}, step() {}, log() {}, stop() {} };
