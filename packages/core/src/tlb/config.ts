import { MmError } from '../errors.ts';

/** Geometry of one set-associative translation array. */
export interface TlbLevelConfig {
  /** Entries in all (a multiple of `ways`). */
  entries: number;
  /** Entries per set. */
  ways: number;
}

/** The TLB model's configuration (`KernelConfig.tlb`). */
export interface TlbConfig {
  /**
   * Model the per-CPU translation caches (default true). When false, flush requests are
   * still counted, but nothing is cached, looked up or checked.
   */
  enabled?: boolean;
  /** Simulated CPUs, each with its own TLB (default 2, at most 32). */
  cpus?: number;
  /**
   * Address space ids the hardware tags entries with (default 4096, x86_64's 12-bit PCID).
   * When they run out, live address spaces are renumbered and every TLB is flushed.
   */
  asids?: number;
  /** First-level data TLB (default 64 entries, 4-way, as a current x86_64 core's L1 dTLB). */
  l1?: TlbLevelConfig;
  /** Second-level shared TLB (default 1536 entries, 12-way, as a current x86_64 core's STLB). */
  l2?: TlbLevelConfig;
}

/** A validated configuration with every default filled in. */
export interface ResolvedTlbConfig {
  enabled: boolean;
  cpus: number;
  asids: number;
  l1: TlbLevelConfig;
  l2: TlbLevelConfig;
}

export const DEFAULT_TLB_CPUS = 2;
export const MAX_TLB_CPUS = 32;
export const DEFAULT_TLB_ASIDS = 4096;
export const DEFAULT_L1_DTLB: TlbLevelConfig = { entries: 64, ways: 4 };
export const DEFAULT_L2_STLB: TlbLevelConfig = { entries: 1536, ways: 12 };

function level(name: string, c: TlbLevelConfig | undefined, dflt: TlbLevelConfig): TlbLevelConfig {
  if (c === undefined) return dflt;
  const { entries, ways } = c;
  if (!Number.isInteger(ways) || ways < 1 || ways > 64)
    throw new MmError('InvalidConfig', `tlb.${name}.ways must be an integer from 1 to 64, got ${ways}`);
  if (!Number.isInteger(entries) || entries < ways || entries > 1 << 16 || entries % ways !== 0)
    throw new MmError(
      'InvalidConfig',
      `tlb.${name}.entries must be a multiple of ways (${ways}) up to 65536, got ${entries}`,
    );
  return { entries, ways };
}

/** Validates `config` (`InvalidConfig` naming the field) and fills in the defaults. */
export function resolveTlbConfig(config: TlbConfig | undefined): ResolvedTlbConfig {
  const c = config ?? {};
  if (c === null || typeof c !== 'object') throw new MmError('InvalidConfig', 'tlb must be an object');
  const enabled = c.enabled ?? true;
  if (typeof enabled !== 'boolean') throw new MmError('InvalidConfig', 'tlb.enabled must be a boolean');
  const cpus = c.cpus ?? DEFAULT_TLB_CPUS;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_TLB_CPUS)
    throw new MmError('InvalidConfig', `tlb.cpus must be an integer from 1 to ${MAX_TLB_CPUS}, got ${cpus}`);
  const asids = c.asids ?? DEFAULT_TLB_ASIDS;
  if (!Number.isInteger(asids) || asids < 2 || asids > 1 << 16)
    throw new MmError('InvalidConfig', `tlb.asids must be an integer from 2 to 65536, got ${asids}`);
  return {
    enabled,
    cpus,
    asids,
    l1: level('l1', c.l1, DEFAULT_L1_DTLB),
    l2: level('l2', c.l2, DEFAULT_L2_STLB),
  };
}
