/**
 * The TLB model. mmkit keeps no translation cache of its own (every access walks the page
 * table), so a flush has no effect on results; what is modelled is its cost: the number of
 * flushes issued, as OSTD's `TlbFlusher` would issue them (single pages, ranges that
 * collapse to a full flush at `FLUSH_ALL_PAGES_THRESHOLD` pages, full flushes).
 */
export const FLUSH_ALL_PAGES_THRESHOLD = 32;

export class Tlb {
  /** Flush operations issued, by kind. */
  nrPageFlushes = 0;
  nrRangeFlushes = 0;
  nrFullFlushes = 0;
  /** Optional observer (the kernel's event bus), called once per flush operation. */
  onFlush: ((kind: 'page' | 'range' | 'all', nrPages: number) => void) | null = null;

  /** Flushes the translation of one page. */
  flushPage(): void {
    this.nrPageFlushes++;
    if (this.onFlush !== null) this.onFlush('page', 1);
  }

  /** Flushes `nrPages` pages; large ranges become a full flush, as in OSTD. */
  flushRange(nrPages: number): void {
    if (nrPages <= 0) return;
    if (nrPages >= FLUSH_ALL_PAGES_THRESHOLD) {
      this.flushAll();
      return;
    }
    this.nrRangeFlushes++;
    if (this.onFlush !== null) this.onFlush('range', nrPages);
  }

  /** Flushes every non-global translation. */
  flushAll(): void {
    this.nrFullFlushes++;
    if (this.onFlush !== null) this.onFlush('all', 0);
  }

  get nrFlushes(): number {
    return this.nrPageFlushes + this.nrRangeFlushes + this.nrFullFlushes;
  }
}
