import { streamRandom } from './program.ts';

/**
 * How a schedule picks the CPU that takes the next step, from the schedule's seed alone
 * (so that the seed replays it):
 * - `random`: a random walk, every eligible CPU equally likely at every switch;
 * - `pct`: PCT (probabilistic concurrency testing): the CPUs get random distinct
 *   priorities, the highest eligible one runs, and at `depth - 1` random steps the running
 *   CPU drops below all others. It finds a bug that needs `depth` ordering constraints with
 *   probability at least 1 / (K * steps^(depth - 1)) per schedule.
 * Eligible: not finished, and not about to try a lock another CPU holds (that try fails,
 * and choosing it again and again would only spin); when every unfinished CPU is in that
 * state, all of them are eligible.
 */
export type Strategy = { readonly kind: 'random' } | { readonly kind: 'pct'; readonly depth: number };

/** The schedule's strategy: half random walks, half PCT of depth 1 to 3. */
export function strategyOf(seed: number): Strategy {
  const random = streamRandom(seed, 0);
  if (random() < 0.5) return { kind: 'random' };
  return { kind: 'pct', depth: 1 + Math.floor(random() * 3) };
}

export function describeStrategy(s: Strategy): string {
  return s.kind === 'random' ? 'random walk' : `PCT depth ${s.depth}`;
}

/** The scheduler's state during one schedule. */
export class Picker {
  private readonly random: () => number;
  private readonly priority: number[];
  private readonly changeAt: number[];
  private lowest = 0;
  private step = 0;

  /**
   * `expectedSteps`: about how many switches the schedule takes (where PCT places its
   * priority changes).
   */
  constructor(
    readonly strategy: Strategy,
    seed: number,
    nrCpus: number,
    expectedSteps: number,
  ) {
    const random = streamRandom(seed, 0);
    random(); // the draws `strategyOf` made
    random();
    this.random = random;
    // Distinct priorities nrCpus..1 in random order (Fisher-Yates).
    this.priority = Array.from({ length: nrCpus }, (_, i) => nrCpus - i);
    for (let i = nrCpus - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [this.priority[i], this.priority[j]] = [this.priority[j], this.priority[i]];
    }
    const depth = strategy.kind === 'pct' ? strategy.depth : 1;
    this.changeAt = Array.from({ length: depth - 1 }, () => 1 + Math.floor(random() * expectedSteps));
  }

  /** The CPU to run among `eligible` (non-empty, ascending CPU numbers). */
  pick(eligible: readonly number[]): number {
    this.step++;
    if (this.strategy.kind === 'random') return eligible[Math.floor(this.random() * eligible.length)];
    const best = this.highest(eligible);
    if (!this.changeAt.includes(this.step)) return best;
    // A priority change point: the CPU about to run drops below every other.
    this.priority[best] = --this.lowest;
    return this.highest(eligible);
  }

  private highest(eligible: readonly number[]): number {
    let best = eligible[0];
    for (const cpu of eligible) if (this.priority[cpu] > this.priority[best]) best = cpu;
    return best;
  }
}
