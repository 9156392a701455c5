import type { Kernel } from '../kernel/kernel.ts';
import type { ForkStrategy } from '../process/fork-strategy.ts';
import { ProcessTable } from '../process/process-table.ts';
import type { Vmar } from '../vmar/vmar.ts';
import type { Vmo } from '../vmar/vmo.ts';
import { type LinuxAbi, linuxAbi } from './linux-abi.ts';
import { sysMadvise } from './madvise.ts';
import { sysMlock, sysMlockall, sysMunlock, sysMunlockall } from './mlock.ts';
import { sysMmap } from './mmap.ts';
import { sysMprotect } from './mprotect.ts';
import { sysMremap } from './mremap.ts';
import { sysMsync } from './msync.ts';
import { sysMunmap } from './munmap.ts';
import { type LinuxRss, linuxRss, sysBrk, sysMincore } from './residency.ts';
import type { U64 } from './u64.ts';
import { readUser, writeUser } from './user-access.ts';

export interface LinuxSyscallsConfig {
  /** How fork copies an address space (default: the eager copy). */
  forkStrategy?: ForkStrategy;
  /** Address-space limit of every process in bytes (`RLIMIT_AS`, default unlimited). */
  asLimit?: number;
}

/**
 * Linux's memory system calls over a process table. Every call takes the calling pid
 * first; an unknown pid throws `MmError` `InvalidArgument` (it is not a system-call
 * argument). Calls return what the kernel returns: a value, or `-errno` (`isErr`,
 * `errnoName`). Arguments that are 64-bit values in Linux are `U64`s. The user VMARs span
 * `[mmap_min_addr, TASK_SIZE)` of the architecture.
 *
 * `spawn` creates process 0 (and further independent processes).
 */
export class LinuxSyscalls {
  readonly abi: LinuxAbi;
  readonly procs: ProcessTable;

  constructor(
    readonly kernel: Kernel,
    config: LinuxSyscallsConfig = {},
  ) {
    this.abi = linuxAbi(kernel.consts);
    this.procs = new ProcessTable(kernel, {
      forkStrategy: config.forkStrategy,
      vmar: { lowest: this.abi.mmapMinAddr, cap: this.abi.taskSize, asLimit: config.asLimit },
    });
  }

  private vmar(pid: number): Vmar {
    return this.procs.require(pid).vmar;
  }

  /** Creates a process with an empty address space; returns its pid. */
  spawn(): number {
    return this.procs.spawn().pid;
  }

  /** `file`: the mapped file's VMO (what a descriptor would name), or null for anonymous memory. */
  mmap(
    pid: number,
    addr: U64,
    len: U64,
    prot: number,
    flags: number,
    offset: U64 = 0,
    file: Vmo | null = null,
  ): number {
    return sysMmap(this.vmar(pid), this.abi, addr, len, prot, flags, offset, file);
  }

  munmap(pid: number, addr: U64, len: U64): number {
    return sysMunmap(this.vmar(pid), this.abi, addr, len);
  }

  mprotect(pid: number, addr: U64, len: U64, prot: number): number {
    return sysMprotect(this.vmar(pid), this.abi, addr, len, prot);
  }

  mremap(pid: number, addr: U64, oldLen: U64, newLen: U64, flags: number, newAddr: U64 = 0): number {
    return sysMremap(this.vmar(pid), this.abi, addr, oldLen, newLen, flags, newAddr);
  }

  madvise(pid: number, addr: U64, len: U64, advice: number): number {
    return sysMadvise(this.vmar(pid), this.abi, addr, len, advice);
  }

  msync(pid: number, addr: U64, len: U64, flags: number): number {
    return sysMsync(this.vmar(pid), this.abi, addr, len, flags);
  }

  /** `mlock(addr, len)`, or `mlock2(addr, len, MLOCK_ONFAULT)` with `onFault`. */
  mlock(pid: number, addr: U64, len: U64, onFault = false): number {
    return sysMlock(this.vmar(pid), this.abi, addr, len, onFault);
  }

  munlock(pid: number, addr: U64, len: U64): number {
    return sysMunlock(this.vmar(pid), this.abi, addr, len);
  }

  /** `mlockall(flags)` (`MCL_*`). */
  mlockall(pid: number, flags: number): number {
    return sysMlockall(this.vmar(pid), flags);
  }

  munlockall(pid: number): number {
    return sysMunlockall(this.vmar(pid));
  }

  /** `mincore`: one byte per page (1: resident), or `-errno`. */
  mincore(pid: number, addr: U64, len: U64): Uint8Array | number {
    return sysMincore(this.vmar(pid), this.abi, addr, len);
  }

  /** Resident pages of `[lo, hi)` as Linux's smaps counts them (anon, file, shmem). */
  rss(pid: number, lo: number, hi: number): LinuxRss {
    return linuxRss(this.vmar(pid), lo, hi);
  }

  /** `brk` with the break relative to the heap's start (`null`: a query); returns the break after the call. */
  brk(pid: number, newBrk: U64 | null): number {
    return sysBrk(this.vmar(pid), newBrk);
  }

  /** Forks `pid`; returns the child's pid. The child has one thread, a copy of the caller. */
  fork(pid: number): number {
    return this.procs.fork(pid).pid;
  }

  /**
   * `clone(CLONE_VM | CLONE_THREAD)` in `pid`: a new thread sharing its address space; returns
   * the new tid (from the pid counter).
   */
  clone(pid: number): number {
    return this.procs.clone(pid).tid;
  }

  /** Thread `tid` exits; the process ends with its last thread. */
  exitThread(tid: number): number {
    this.procs.exitThread(tid);
    return 0;
  }

  /** Ends `pid` and all its threads (`exit_group`), tearing its address space down. */
  exit(pid: number): number {
    this.procs.exit(pid);
    return 0;
  }

  /** Loads `out.length` bytes at `vaddr` as the process would; 0 or the signal number (SIGSEGV 11, SIGBUS 7). */
  readMemory(pid: number, vaddr: number, out: Uint8Array): number {
    return readUser(this.vmar(pid), vaddr, out);
  }

  /** Stores `data` at `vaddr` as the process would; 0 or the signal number. */
  writeMemory(pid: number, vaddr: number, data: Uint8Array): number {
    return writeUser(this.vmar(pid), vaddr, data);
  }
}
