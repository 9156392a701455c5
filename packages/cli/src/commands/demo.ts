import {
  type Arch,
  createKernel,
  dumpPageTable,
  type Kernel,
  nodesPerLevel,
  PROP_R,
  PROP_RW,
  PROP_USER,
  PROP_W,
  pageSize,
} from '@mmkit/core';
import type { Command } from 'commander';
import { ARCHS, archByName } from '../archs.ts';
import { formatBytes } from '../units.ts';

const PAGE = 4096;
const MiB2 = 2 << 20;
const GiB = 2 ** 30;
/** Where the demo maps user pages: 1 GiB, valid on every architecture. */
const USER_VA = GiB;

/** Maps, protects and unmaps a mixed range on one architecture and describes the result. */
export function runDemo(name: string, arch: Arch): string[] {
  const k = createKernel({ arch, memory: GiB, debug: true });
  const c = k.consts;
  const out: string[] = [];
  out.push(
    `== ${name}: ${c.nrLevels} levels, ${c.addressWidth}-bit virtual addresses, leaves up to ${formatBytes(pageSize(c, c.highestTranslationLevel))} ==`,
  );

  // User space: 16 tracked frames; 4 made read-only, 4 unmapped.
  const user = k.newUserPageTable();
  const uc = user.cursorMut(USER_VA, USER_VA + 16 * PAGE);
  for (let i = 0; i < 16; i++) {
    const f = k.frames.alloc();
    uc.map(f, PROP_RW | PROP_USER);
    k.frames.put(f);
  }
  uc.jump(USER_VA + 4 * PAGE);
  uc.protect(4 * PAGE, (p) => p & ~PROP_W);
  uc.jump(USER_VA + 12 * PAGE);
  uc.unmap(4 * PAGE);
  uc.drop();

  // Kernel space: an untracked physical range with huge pages, one split by protect,
  // one split by a partial unmap.
  const kva = k.kernelPageTable.lower + 64 * GiB - PAGE;
  const len = 2 * MiB2 + 2 * PAGE;
  const kc = k.kernelPageTable.cursorMut(kva, kva + len);
  kc.mapPhys(MiB2 / PAGE - 1, len / PAGE, PROP_RW);
  kc.jump(kva + PAGE);
  kc.protect(MiB2 / 2, (p) => (p & ~PROP_W) | PROP_R);
  kc.jump(kva + len - PAGE - 8 * PAGE);
  kc.unmap(8 * PAGE);
  kc.drop();

  out.push(`user page table, [${hex(USER_VA)}, ${hex(USER_VA + 16 * PAGE)}):`);
  for (const line of dumpPageTable(k, user, USER_VA, USER_VA + 16 * PAGE)) out.push(`  ${line}`);
  out.push('kernel page table, demo range:');
  for (const line of dumpPageTable(k, k.kernelPageTable, kva, kva + len)) out.push(`  ${line}`);
  out.push('kernel page table, linear mapping of physical memory:');
  const lin = k.linearMappingBase;
  for (const line of dumpPageTable(k, k.kernelPageTable, lin, lin + GiB)) out.push(`  ${line}`);
  out.push(...summary(k));
  out.push(...legend(k));
  k.destroyUserPageTable(user);
  return out;
}

function summary(k: Kernel): string[] {
  const usage = Object.entries(k.frames.usageByType())
    .filter(([, n]) => n > 0)
    .map(([type, n]) => `${type} ${n}`)
    .join(', ');
  const levels = nodesPerLevel(k)
    .map((n, level) => (level === 0 ? '' : `L${level} ${n}`))
    .filter((s) => s !== '')
    .join(', ');
  const violations = k.check();
  const verdict =
    violations.length === 0 ? 'ok' : `${violations.length} violations: ${violations[0].message}`;
  return [
    `frames in use: ${usage} (${k.frames.nrInUse} of ${k.frames.nrFrames})`,
    `page-table nodes per level: ${levels}`,
    `kernel.check(): ${verdict}`,
  ];
}

/** What the columns and level numbers of the dumps mean, for `k`'s architecture. */
function legend(k: Kernel): string[] {
  const c = k.consts;
  const levels: string[] = [];
  for (let level = c.nrLevels; level >= 1; level--) {
    const role = level === c.nrLevels ? 'the root' : level === 1 ? 'leaf nodes' : 'inner nodes';
    const leaves = level <= c.highestTranslationLevel ? `, leaves of ${formatBytes(pageSize(c, level))}` : '';
    levels.push(`L${level} ${role}: an entry covers ${formatBytes(pageSize(c, level))}${leaves}`);
  }
  return [
    'legend:',
    '  a line: virtual start-end -> physical start, number x leaf size (4K, 2M, 1G), property, tracked or not',
    '  property: r w x (read, write, execute), u (user) g (global), a (accessed) d (dirty), cache policy',
    '            (WB write-back, WT write-through, WC write-combining, UC uncached, WP write-protected); - = clear',
    '  tracked: the frame is reference counted; untracked: physical memory mapped without a count',
    `  page-table levels: ${levels.join('; ')}`,
  ];
}

function hex(v: number): string {
  return `0x${v.toString(16)}`;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'map, protect and unmap a mixed range (huge pages included) on each architecture and dump the page tables',
    )
    .option('--arch <name>', `only this architecture (${Object.keys(ARCHS).join(', ')})`)
    .action((opts: { arch?: string }) => {
      const names = opts.arch !== undefined ? [opts.arch] : Object.keys(ARCHS);
      for (const name of names) {
        for (const line of runDemo(name, archByName(name))) console.log(line);
        console.log();
      }
    });
}
