import { RSS_ANON, RSS_FILE } from '../vmar/vm-mapping.ts';
import type { ProcessTable } from './process-table.ts';

/** Resident pages of one process by type. */
export interface ProcessRss {
  pid: number;
  anon: number;
  file: number;
}

/**
 * A system over the process entities of the kernel's control plane: the resident pages of
 * every live process (its VMAR's RSS counters), in pid order. It reads the query, not the
 * process table's own list, so a process whose entity is missing is missing here too (and
 * `kernel.check()` reports it).
 */
export function rssByProcess(procs: ProcessTable): ProcessRss[] {
  const control = procs.kernel.control;
  const out: ProcessRss[] = [];
  for (const eid of control.processes()) {
    const pid = control.Process.pid[eid];
    const rss = procs.require(pid).vmar.rss;
    out.push({ pid, anon: rss[RSS_ANON], file: rss[RSS_FILE] });
  }
  return out.sort((a, b) => a.pid - b.pid);
}
