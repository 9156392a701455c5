import { FRAME_TYPE_NAMES, type PagingConsts } from '@mmkit/core';
import { formatBytes } from '../units.ts';
import { FRAME_MAP_CHARS, type FramesView } from './frames.ts';
import type { PtNode } from './page-table.ts';
import { pteBits } from './pte-bits.ts';
import type { InspectState } from './state.ts';
import type { VmaView } from './vmas.ts';

const hex = (v: number): string => v.toString(16);
const KiB = (bytes: number): number => Math.floor(bytes / 1024);

/** Column where `/proc/PID/maps` starts the name on a 64-bit kernel (`25 + 6 * sizeof(void *) - 1`, then a space). */
const MAPS_NAME_COLUMN = 73;

/** The `/proc/PID/maps` line of a mapping, byte for byte as Linux prints it. */
export function mapsLine(v: VmaView): string {
  const prefix = `${hex(v.start).padStart(8, '0')}-${hex(v.end).padStart(8, '0')} ${v.perms} ${hex(v.offset).padStart(8, '0')} ${v.dev} ${v.inode} `;
  return v.name === '' ? prefix : `${prefix.padEnd(MAPS_NAME_COLUMN)} ${v.name}`;
}

/** `/proc/PID/maps`. */
export function formatMaps(s: InspectState): string[] {
  return s.vmas.map(mapsLine);
}

/** One `smaps` field: the name padded to 16 columns, the value in kB right-aligned on 8. */
function smapsField(name: string, kb: number): string {
  return `${`${name}:`.padEnd(16)}${String(kb).padStart(8)} kB`;
}

/**
 * `/proc/PID/smaps`: per mapping the header line and the fields the model has (Size,
 * KernelPageSize, MMUPageSize, Rss, Pss, Pss_Dirty, Shared/Private Clean/Dirty, Referenced,
 * Anonymous, Locked), computed as Linux does (see `SmapsFigures`).
 */
export function formatSmaps(s: InspectState): string[] {
  const out: string[] = [];
  for (const v of s.vmas) {
    out.push(
      mapsLine(v),
      smapsField('Size', KiB(v.end - v.start)),
      smapsField('KernelPageSize', KiB(v.pageSize)),
      smapsField('MMUPageSize', KiB(v.pageSize)),
      smapsField('Rss', KiB(v.rss)),
      smapsField('Pss', KiB(v.pss)),
      smapsField('Pss_Dirty', KiB(v.pssDirty)),
      smapsField('Shared_Clean', KiB(v.sharedClean)),
      smapsField('Shared_Dirty', KiB(v.sharedDirty)),
      smapsField('Private_Clean', KiB(v.privateClean)),
      smapsField('Private_Dirty', KiB(v.privateDirty)),
      smapsField('Referenced', KiB(v.referenced)),
      smapsField('Anonymous', KiB(v.anonymous)),
      smapsField('Locked', KiB(v.locked)),
    );
  }
  return out;
}

/** `pmap -x PID`: address, size, RSS and dirty kB, mode and mapping, with totals. */
export function formatPmap(s: InspectState): string[] {
  const row = (a: string, k: string, r: string, d: string, rest: string): string =>
    `${a.padEnd(16)} ${k.padStart(7)} ${r.padStart(7)} ${d.padStart(7)} ${rest}`;
  const out = [
    `${s.pid}:   ${s.trace} (line ${s.line})`,
    row('Address', 'Kbytes', 'RSS', 'Dirty', 'Mode  Mapping'),
  ];
  for (const v of s.vmas) {
    const mode = `${v.perms.slice(0, 3)}${v.perms[3] === 's' ? 's' : '-'}-`;
    const name = v.name === '' ? '[ anon ]' : v.name;
    out.push(
      row(
        hex(v.start).padStart(16, '0'),
        String(KiB(v.end - v.start)),
        String(KiB(v.rss)),
        String(KiB(v.sharedDirty + v.privateDirty)),
        `${mode} ${name}`,
      ),
    );
  }
  const t = s.totals;
  out.push(
    '---------------- ------- ------- ------- ',
    row('total kB', String(KiB(t.size)), String(KiB(t.rss)), String(KiB(t.sharedDirty + t.privateDirty)), ''),
  );
  return out;
}

/** x86_64's names of the page-table levels (index = level). */
const X86_LEVEL_NAMES = ['', 'PT', 'PD', 'PDPT', 'PML4'];

/** The legend of level numbers and flag columns for `consts`' architecture. */
export function pageTableLegend(consts: PagingConsts, sizes: ArrayLike<number>): string[] {
  const out = ['legend:'];
  for (let level = consts.nrLevels; level >= 1; level--) {
    const name = consts.name === 'x86_64' ? ` (${X86_LEVEL_NAMES[level]})` : ` (VPN[${level - 1}])`;
    const root = level === consts.nrLevels ? ', the root' : '';
    const leaf =
      level <= consts.highestTranslationLevel
        ? level === 1
          ? '; leaves map base pages'
          : `; a leaf here is a ${formatBytes(sizes[level])} huge page`
        : '';
    out.push(`  L${level}${name}: each entry covers ${formatBytes(sizes[level])}${root}${leaf}`);
  }
  out.push('  [i]: entry index in its node; raw: the 64-bit PTE in hex; then the hardware bits set:');
  for (const b of pteBits(consts.name))
    out.push(`    ${b.name.padEnd(4)} bit ${String(b.bit).padStart(2)}: ${b.meaning}`);
  out.push(
    '  leaves end with the decoded property: r/w/x, u (user) g (global), a (accessed) d (dirty), cache policy;',
    '  "tracked" frames are reference counted, "untracked" is physical memory mapped without a count',
  );
  return out;
}

/** The page-table tree of process `pid` cut to `range`, one line per node and present entry, indented by level, with the legend. */
export function formatPageTable(
  tree: PtNode,
  pid: number,
  range: { start: number; end: number },
  consts: PagingConsts,
  sizes: ArrayLike<number>,
): string[] {
  const out = [
    `page table of pid ${pid} (${consts.name}, ${consts.nrLevels} levels), range ${hex(range.start)}-${hex(range.end)}:`,
  ];
  const visit = (n: PtNode, depth: number): void => {
    const pad = '  '.repeat(depth);
    out.push(
      `${pad}L${n.level} node, frame 0x${hex(n.pfn)}: ${n.nrPresent} of ${consts.nrEntries} entries present`,
    );
    for (const e of n.entries) {
      const head = `${pad}  [${String(e.index).padStart(3)}] va ${hex(e.va).padStart(12, '0')}  raw ${e.raw}  ${e.bits.padEnd(18)}`;
      if (e.kind === 'table') {
        out.push(`${head} -> L${n.level - 1} node 0x${hex(e.pfn)}`);
        visit(e.child!, depth + 1);
      } else {
        const huge =
          e.size! > consts.basePageSize ? ` HUGE ${formatBytes(e.size!)}` : ` ${formatBytes(e.size!)}`;
        out.push(
          `${head} leaf${huge} -> frame 0x${hex(e.pfn)}  ${e.prop}  ${e.tracked ? 'tracked' : 'untracked'}`,
        );
      }
    }
  };
  visit(tree, 0);
  out.push(...pageTableLegend(consts, sizes));
  return out;
}

/** Frames per line of the compact frame map. */
const FRAME_MAP_WIDTH = 128;

/** Frames by type and reference count, the page cache per file, and the compact frame map. */
export function formatFrames(f: FramesView): string[] {
  const out = [
    `frames: ${f.nrInUse} of ${f.nrFrames} in use (${formatBytes(f.nrInUse * 4096)} of ${formatBytes(f.nrFrames * 4096)})`,
  ];
  for (const t of f.byType) {
    const refs = Object.entries(t.byRefCount)
      .map(([rc, n]) => `${n} x ref ${rc}`)
      .join(', ');
    out.push(`  ${t.type.padEnd(11)} ${String(t.count).padStart(7)}  (${refs})`);
  }
  out.push(`page cache: ${f.pageCache.length} file(s)`);
  for (const file of f.pageCache) {
    out.push(
      `  ${file.name} (inode ${file.inode}, ${formatBytes(file.sizeBytes)}): ${file.cachedPages} page(s) cached, ${file.mappedPages} mapped`,
    );
  }
  out.push(
    `frame map (one character per frame, ${FRAME_MAP_WIDTH} per line; frames past the last line are free):`,
    `  legend: ${[...FRAME_MAP_CHARS].map((c, i) => `${c} ${FRAME_TYPE_NAMES[i]}`).join(', ')}`,
  );
  for (let pfn = 0; pfn < f.map.length; pfn += FRAME_MAP_WIDTH) {
    const row = f.map.slice(pfn, pfn + FRAME_MAP_WIDTH);
    if (/^\.+$/.test(row)) continue;
    out.push(`  ${hex(pfn).padStart(6, '0')} ${row}`);
  }
  return out;
}
