import { DEFAULT_TLB_ASIDS, type TlbLevelConfig } from './config.ts';

/** `vpn` of an invalid entry. */
const INVALID = -1;

/**
 * One set-associative array of translations (an L1 dTLB or an L2 STLB), tagged by address
 * space id: entry `i` caches `vpn[i]` of address space `asid[i]` → frame `pfn[i]` with the
 * page property `prop[i]` as it was when cached.
 *
 * An entry is valid iff `vpn[i] >= 0` and it was cached in the current generation of its
 * ASID (`epoch[i] === generation[asid[i]]`): dropping every entry of an ASID
 * (`invalidateAsid`, a flush by ASID) bumps the ASID's generation instead of scanning the
 * array, and its old entries count as invalid everywhere from then on (a fill takes them
 * first, as it takes an invalid entry). `nrLive[asid]` counts the valid entries of each ASID.
 *
 * A virtual page lives in set `vpn % nrSets`, in any of the set's `ways` entries; a fill
 * replaces an invalid entry of the set, or else the least recently used one (`stamp` is a
 * clock value taken at every fill and hit). Typed arrays only; nothing is allocated after
 * construction.
 */
export class TlbArray {
  readonly nrSets: number;
  readonly ways: number;
  /** `nrSets - 1` when the set count is a power of two (the set is then the page number's low bits), else -1. */
  private readonly setMask: number;
  readonly vpn: Float64Array;
  readonly asid: Int32Array;
  readonly pfn: Int32Array;
  readonly prop: Uint16Array;
  private readonly stamp: Float64Array;
  /** Per entry: the generation of its ASID it was cached in. */
  private readonly epoch: Uint32Array;
  /** Per ASID: its current generation, and its number of valid entries. */
  private readonly generation: Uint32Array;
  private readonly nrLive: Int32Array;
  private clock = 0;

  /** `asids`: the address space ids entries may carry (`0 .. asids - 1`). */
  constructor(geometry: TlbLevelConfig, asids = DEFAULT_TLB_ASIDS) {
    this.ways = geometry.ways;
    this.nrSets = geometry.entries / geometry.ways;
    this.setMask = (this.nrSets & (this.nrSets - 1)) === 0 ? this.nrSets - 1 : -1;
    this.vpn = new Float64Array(geometry.entries).fill(INVALID);
    this.asid = new Int32Array(geometry.entries);
    this.pfn = new Int32Array(geometry.entries);
    this.prop = new Uint16Array(geometry.entries);
    this.stamp = new Float64Array(geometry.entries);
    this.epoch = new Uint32Array(geometry.entries);
    this.generation = new Uint32Array(asids);
    this.nrLive = new Int32Array(asids);
  }

  get nrEntries(): number {
    return this.vpn.length;
  }

  /** Whether entry `i` is valid. */
  isValid(i: number): boolean {
    return this.vpn[i] !== INVALID && this.epoch[i] === this.generation[this.asid[i]];
  }

  /**
   * The first entry of the set of page `vpn` (>= 0): `vpn % nrSets` entries in, without a
   * floating-point modulo when the set count is a power of two (page numbers pass 2^31, and
   * `&` keeps their low 32 bits exactly).
   */
  private setStart(vpn: number): number {
    const mask = this.setMask;
    return (mask >= 0 ? vpn & mask : vpn % this.nrSets) * this.ways;
  }

  /** Index of the valid entry caching `vpn` of `asid` (marked as just used), or -1. */
  find(asid: number, vpn: number): number {
    const first = this.setStart(vpn);
    const end = first + this.ways;
    const gen = this.generation[asid];
    const vpns = this.vpn;
    for (let i = first; i < end; i++) {
      if (vpns[i] === vpn && this.asid[i] === asid && this.epoch[i] === gen) {
        this.stamp[i] = ++this.clock;
        return i;
      }
    }
    return -1;
  }

  /** Whether `vpn` of `asid` is cached (without marking it used). */
  holds(asid: number, vpn: number): boolean {
    const first = this.setStart(vpn);
    const gen = this.generation[asid];
    for (let i = first; i < first + this.ways; i++)
      if (this.vpn[i] === vpn && this.asid[i] === asid && this.epoch[i] === gen) return true;
    return false;
  }

  /**
   * Caches `vpn` of `asid` → `pfn` with `prop` (the caller made sure it is not cached yet).
   * Returns whether a valid entry was evicted to make room.
   */
  insert(asid: number, vpn: number, pfn: number, prop: number): boolean {
    const first = this.setStart(vpn);
    const end = first + this.ways;
    const vpns = this.vpn;
    const asids = this.asid;
    const epoch = this.epoch;
    const generation = this.generation;
    const stamp = this.stamp;
    // `isValid` written out: this loop runs on every TLB fill.
    let victim = first;
    let evicted = true;
    for (let i = first; i < end; i++) {
      if (vpns[i] === INVALID || epoch[i] !== generation[asids[i]]) {
        victim = i;
        evicted = false;
        break;
      }
      if (stamp[i] < stamp[victim]) victim = i;
    }
    if (evicted) this.nrLive[asids[victim]]--;
    this.vpn[victim] = vpn;
    this.asid[victim] = asid;
    this.epoch[victim] = this.generation[asid];
    this.pfn[victim] = pfn;
    this.prop[victim] = prop;
    this.stamp[victim] = ++this.clock;
    this.nrLive[asid]++;
    return evicted;
  }

  /** Drops entry `i`. */
  invalidateAt(i: number): void {
    if (this.isValid(i)) this.nrLive[this.asid[i]]--;
    this.vpn[i] = INVALID;
  }

  /**
   * Drops the entries of `asid` for pages `[startVpn, endVpn)`: set by set when the range is
   * smaller than the number of sets, else by one scan. Returns how many were dropped.
   */
  invalidateRange(asid: number, startVpn: number, endVpn: number): number {
    if (this.nrLive[asid] === 0) return 0;
    const gen = this.generation[asid];
    let n = 0;
    if (endVpn - startVpn < this.nrSets) {
      for (let v = startVpn; v < endVpn; v++) {
        const first = this.setStart(v);
        for (let i = first; i < first + this.ways; i++) {
          if (this.vpn[i] === v && this.asid[i] === asid && this.epoch[i] === gen) {
            this.vpn[i] = INVALID;
            n++;
          }
        }
      }
    } else {
      for (let i = 0; i < this.vpn.length; i++) {
        const v = this.vpn[i];
        if (v >= startVpn && v < endVpn && this.asid[i] === asid && this.epoch[i] === gen) {
          this.vpn[i] = INVALID;
          n++;
        }
      }
    }
    this.nrLive[asid] -= n;
    return n;
  }

  /** Drops every entry of `asid` (a new generation of it, no scan); returns how many. */
  invalidateAsid(asid: number): number {
    const n = this.nrLive[asid];
    if (n === 0) return 0;
    const gen = (this.generation[asid] + 1) >>> 0;
    // After 2^32 generations the counter wraps: entries of the old generation 0 would count
    // as valid again, so this once the ASID's entries are dropped by a scan.
    if (gen === 0) for (let i = 0; i < this.vpn.length; i++) if (this.asid[i] === asid) this.vpn[i] = INVALID;
    this.generation[asid] = gen;
    this.nrLive[asid] = 0;
    return n;
  }

  /** Drops every entry (a full flush). */
  invalidateAll(): void {
    this.vpn.fill(INVALID);
    this.nrLive.fill(0);
  }
}
