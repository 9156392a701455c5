import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/archs.ts';
import { describeResult, runExplore } from '../src/commands/explore.ts';
import type { PlantedBug } from '../src/explore/cpu-protocol.ts';
import { explore } from '../src/explore/explorer.ts';

/**
 * The interleaving explorer: correct lock protocols pass a few dozen schedules clean (the
 * invariants hold at every switch, `kernel.check()` is clean and nothing leaks at the end
 * of each), each planted protocol bug is found within a stated number of schedules for a
 * fixed seed, and the failing schedule replays from its seed with the same failure.
 */

const CLEAN_SCHEDULES = 30;
/** `subtree` with recycling, the protocol with the most paths (grace periods included). */
const SUBTREE_RECYCLE_SCHEDULES = 60;

describe('explore: correct protocols run clean', () => {
  for (const [protocol, recycle] of [
    ['hoh', false],
    ['global', false],
    ['subtree', false],
    ['hoh', true],
    ['global', true],
  ] as const) {
    it(`${protocol}, recycling ${recycle ? 'on' : 'off'}: ${CLEAN_SCHEDULES} schedules of 3 CPUs`, async () => {
      const result = await explore({ protocol, recycle, cpus: 3, schedules: CLEAN_SCHEDULES, seed: 11 });
      expect(result.failure).toBeNull();
      expect(result.schedulesRun).toBe(CLEAN_SCHEDULES);
      // Every schedule interleaves: a few dozen switches each at least.
      expect(result.switches).toBeGreaterThan(CLEAN_SCHEDULES * 30);
    });
  }

  it(`subtree, recycling on: ${SUBTREE_RECYCLE_SCHEDULES} schedules of 3 CPUs, every retired node freed`, async () => {
    // The end-of-schedule checks (`kernel.check()`, no leak) pass only if each CPU's
    // retired nodes were freed after their grace period and its frame cache flushed.
    const result = await explore({
      protocol: 'subtree',
      recycle: true,
      cpus: 3,
      schedules: SUBTREE_RECYCLE_SCHEDULES,
      seed: 11,
    });
    expect(result.failure).toBeNull();
    expect(result.schedulesRun).toBe(SUBTREE_RECYCLE_SCHEDULES);
    expect(result.switches).toBeGreaterThan(SUBTREE_RECYCLE_SCHEDULES * 30);
  });
});

/**
 * `free-at-once` needs a walker paused between its lock-free read of a node's address and
 * its lock of that node while another CPU detaches the node, frees it, gets the same frame
 * back for a node elsewhere in the tree and unlocks it: with 4 operations per CPU no
 * schedule of seeds 1-3 reaches that in 300; with 6, seed 1 does at schedule 191.
 */
const FREE_AT_ONCE_OPS = 6;
const FREE_AT_ONCE_SEED = 1;
const FREE_AT_ONCE_WITHIN = 200;

describe('explore: planted bugs are found and replay', () => {
  /**
   * Each bug, whether it needs recycling, operations per CPU, the run's seed and within how
   * many schedules that seed finds it (3 CPUs).
   */
  const BUGS: readonly (readonly [PlantedBug, boolean, number, number, number])[] = [
    ['no-stray-check', true, 4, 1, 20],
    ['recycle-no-stray', true, 4, 1, 20],
    ['link-before-lock', false, 4, 1, 40],
    ['free-at-once', true, FREE_AT_ONCE_OPS, FREE_AT_ONCE_SEED, FREE_AT_ONCE_WITHIN],
  ];
  for (const [plant, recycle, ops, seed, within] of BUGS) {
    it(`${plant}: found within ${within} schedules, and its schedule replays`, async () => {
      const options = { protocol: 'subtree', recycle, cpus: 3, ops, seed, plant } as const;
      const found = await explore({ ...options, schedules: within });
      const failure = found.failure;
      expect(failure).not.toBeNull();
      if (failure === null) return;
      expect(failure.scheduleIndex).toBeLessThan(within);
      expect(found.schedulesRun).toBe((failure.scheduleIndex ?? 0) + 1);
      const replayed = await explore({ ...options, schedules: 1, replay: failure.scheduleSeed });
      expect(replayed.failure?.violation).toEqual(failure.violation);
      expect(replayed.failure?.steps).toBe(failure.steps);
      expect(replayed.failure?.trace).toEqual(failure.trace);
      // The report names the schedule seed, the violation and the command that replays it.
      const again = `mmkit explore --protocol subtree${recycle ? ' --recycle' : ''} --plant ${plant}`;
      const text = describeResult(found, 'subtree', again);
      expect(text).toContain(`schedule seed ${failure.scheduleSeed}`);
      expect(text).toContain(`[${failure.violation.kind}]`);
      expect(text).toContain(`replay: ${again} --replay ${failure.scheduleSeed}`);
    });
  }
});

describe('explore: command line', () => {
  const run = (opts: Record<string, string | boolean>) => runExplore(opts, () => {}, { write: () => {} });
  it('rejects bad options with a usage error before starting any CPU', async () => {
    await expect(run({ protocol: 'mcs' })).rejects.toThrow(UsageError);
    await expect(run({ protocol: 'mcs' })).rejects.toThrow(/unknown lock protocol 'mcs'/);
    await expect(run({ cpus: '1' })).rejects.toThrow(/--cpus '1': expected 2 to 8/);
    await expect(run({ schedules: '0' })).rejects.toThrow(/--schedules/);
    await expect(run({ seed: '-3' })).rejects.toThrow(/--seed '-3'/);
    await expect(run({ replay: 'x' })).rejects.toThrow(/--replay 'x'/);
    await expect(run({ plant: 'typo' })).rejects.toThrow(/unknown bug 'typo'/);
  });

  it('exits 1 with a readable report when a violation is found, as JSON too', async () => {
    let text = '';
    const status = await runExplore(
      { protocol: 'subtree', recycle: true, plant: 'no-stray-check', schedules: '20', json: true },
      (t) => {
        text += t;
      },
      { write: () => {} },
    );
    expect(status).toBe(1);
    const json = JSON.parse(text);
    expect(json.failure.scheduleSeed).toBeTypeOf('number');
    expect(json.replayCommand).toBe(
      `mmkit explore --protocol subtree --cpus 3 --recycle --plant no-stray-check --replay ${json.failure.scheduleSeed}`,
    );
  });
});
