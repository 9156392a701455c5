import { QUERY_MAPPED } from '../page-table/cursor.ts';
import {
  MADV_COLD,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_PAGEOUT,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_REMOVE,
  MADV_WILLNEED,
} from '../syscall/linux-abi.ts';
import type { LinuxSyscalls } from '../syscall/linux-syscalls.ts';
import { ACCESS_READ, ACCESS_WRITE, propAllows } from '../vmar/vm-perms.ts';
import type { Vmar } from '../vmar/vmar.ts';
import type { MmapLock } from './mmap-lock.ts';
import type { Thread } from './thread.ts';
import type { OpLock, ThreadOp, ThreadProgram } from './thread-scheduler.ts';

/**
 * Advice that Linux carries out under the `mmap_lock` held for read (`madvise_need_mmap_write`
 * returns 0): it changes pages, not mappings. Every other advice changes the mappings' flags
 * and takes the lock for write.
 */
const MADVISE_UNDER_READ_LOCK = new Set([
  MADV_REMOVE,
  MADV_WILLNEED,
  MADV_DONTNEED,
  MADV_COLD,
  MADV_PAGEOUT,
  MADV_FREE,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
]);

/** The lock mode Linux's madvise takes for `advice`. */
export function madviseLock(advice: number): OpLock {
  return MADVISE_UNDER_READ_LOCK.has(advice) ? 'read' : 'write';
}

/**
 * Whether a load (`access` `ACCESS_READ`) or store (`ACCESS_WRITE`) of `[va, va + len)` would
 * take a page fault: some page is not mapped, or not with the rights the access needs. Reads
 * the page table only (a read-only cursor per page, dropped at once).
 */
export function accessFaults(vmar: Vmar, va: number, len: number, access: number): boolean {
  const space = vmar.space;
  const page = vmar.pageSize;
  const first = Math.floor(va / page) * page;
  const end = va + Math.max(len, 1);
  if (!(first >= space.lower && end <= space.upper)) return true;
  for (let at = first; at < end; at += page) {
    const c = space.cursor(at, at + page);
    try {
      if (c.query() !== QUERY_MAPPED || !propAllows(c.qProp, access)) return true;
    } finally {
      c.drop();
    }
  }
  return false;
}

/** Whatever runs new threads' programs (a `ThreadScheduler`, or something that records and forwards to one). */
export interface ThreadHost {
  add(thread: Thread, program: ThreadProgram): void;
}

/**
 * The memory system calls and accesses of one thread as scheduler operations, each taking
 * its process's `mmap_lock` as Linux does:
 * - for write: mmap, munmap (downgraded to read once the mappings are detached, as
 *   `__vm_munmap` does, so its page-table work runs under the read lock), mprotect, mremap,
 *   madvise that changes mappings, fork (`dup_mmap` holds the parent's lock for write);
 * - for read: madvise that only drops or reads pages (`madviseLock`), a load or store that
 *   faults (`do_user_addr_fault` → `lock_mm_and_find_vma`), a thread's exit (`exit_mm`);
 * - none: a load or store whose pages are all mapped with the rights it needs (the MMU
 *   translates it, no kernel code runs), thread creation (`clone(CLONE_VM)`).
 *
 * An access counts as `load`/`store`, or `load-fault`/`store-fault` when it took the lock.
 *
 * Cost (steps the lock is held): one per page the call covers, at least one; a munmap one
 * more (detaching the mappings); mmap one (without `MAP_POPULATE`, no page is touched); fork
 * one plus one per mapping copied. Per-VMA locks (Linux 6.4, faults without the
 * `mmap_lock`) are not modelled.
 */
export interface ThreadOpsOptions {
  /**
   * Faults under per-VMA locks (Linux 6.4 and later): a fault whose mapping no writer has
   * write-locked runs without the `mmap_lock`; otherwise it falls back to the `mmap_lock`
   * for read. Off by default (the `mmap_lock` for every fault).
   */
  perVmaLocks?: boolean;
}

export class ThreadOps {
  readonly perVmaLocks: boolean;

  constructor(
    readonly sys: LinuxSyscalls,
    options: ThreadOpsOptions = {},
  ) {
    this.perVmaLocks = options.perVmaLocks ?? false;
  }

  private pages(t: Thread, len: number): number {
    const page = this.sys.procs.require(t.pid).vmar.pageSize;
    return Math.max(1, Math.ceil(len / page));
  }

  /**
   * Write-locks (`vma_start_write`) the mappings a writer changed in `[start, end)` and the
   * neighbours it may have merged with (the range widened by a page each side).
   */
  private lockVmas(t: Thread, start: number, end: number): void {
    const p = this.sys.procs.get(t.pid);
    if (p === undefined) return;
    const page = p.vmar.pageSize;
    p.mmapLock.lockVmas(t.tid, start - page, end + page);
  }

  mmap(t: Thread, addr: number, len: number, prot: number, flags: number): ThreadOp {
    return {
      kind: 'mmap',
      lock: 'write',
      steps: 1,
      run: () => {
        const ret = this.sys.mmap(t.pid, addr, len, prot, flags);
        if (ret >= 0) this.lockVmas(t, ret, ret + len);
        return ret;
      },
    };
  }

  munmap(t: Thread, addr: number, len: number): ThreadOp {
    return {
      kind: 'munmap',
      lock: 'write',
      steps: 1 + this.pages(t, len),
      downgradeAfter: 1,
      run: () => {
        this.lockVmas(t, addr, addr + len);
        return this.sys.munmap(t.pid, addr, len);
      },
    };
  }

  mprotect(t: Thread, addr: number, len: number, prot: number): ThreadOp {
    return {
      kind: 'mprotect',
      lock: 'write',
      steps: this.pages(t, len),
      run: () => {
        this.lockVmas(t, addr, addr + len);
        return this.sys.mprotect(t.pid, addr, len, prot);
      },
    };
  }

  mremap(t: Thread, addr: number, oldLen: number, newLen: number, flags: number, newAddr = 0): ThreadOp {
    return {
      kind: 'mremap',
      lock: 'write',
      steps: this.pages(t, oldLen),
      run: () => {
        this.lockVmas(t, addr, addr + oldLen);
        const ret = this.sys.mremap(t.pid, addr, oldLen, newLen, flags, newAddr);
        if (ret >= 0) this.lockVmas(t, ret, ret + newLen);
        return ret;
      },
    };
  }

  madvise(t: Thread, addr: number, len: number, advice: number): ThreadOp {
    const lock = madviseLock(advice);
    return {
      kind: 'madvise',
      lock,
      steps: this.pages(t, len),
      run: () => {
        if (lock === 'write') this.lockVmas(t, addr, addr + len);
        return this.sys.madvise(t.pid, addr, len, advice);
      },
    };
  }

  /** A load of `out.length` bytes at `va` into `out`; the result is 0 or the signal number. */
  load(t: Thread, va: number, out: Uint8Array): ThreadOp {
    return this.access(t, 'load', va, out.length, ACCESS_READ, () => this.sys.readMemory(t.pid, va, out));
  }

  /** A store of `data` at `va`; the result is 0 or the signal number. */
  store(t: Thread, va: number, data: Uint8Array): ThreadOp {
    return this.access(t, 'store', va, data.length, ACCESS_WRITE, () =>
      this.sys.writeMemory(t.pid, va, data),
    );
  }

  private access(
    t: Thread,
    kind: string,
    va: number,
    len: number,
    access: number,
    run: () => number,
  ): ThreadOp {
    const p = this.sys.procs.require(t.pid);
    const vmar = p.vmar;
    const pages = this.pages(t, va - Math.floor(va / vmar.pageSize) * vmar.pageSize + len);
    // Decided when the access starts (the scheduler asks for the lock first): does it fault
    // then, and under which lock?
    let faults = false;
    let underVma = false;
    return {
      get kind() {
        return faults ? `${kind}-fault${underVma ? '-vma' : ''}` : kind;
      },
      lock: () => {
        faults = accessFaults(vmar, va, len, access);
        underVma = faults && this.perVmaLocks && this.vmaLockable(p.mmapLock, vmar, va, len);
        return faults && !underVma ? 'read' : 'none';
      },
      get steps() {
        return faults && !underVma ? pages : 1;
      },
      run,
    };
  }

  /**
   * Whether a fault on `[va, va + len)` can run under its mappings' own locks
   * (`lock_vma_under_rcu`): each end lies in a mapping that no writer has write-locked.
   */
  private vmaLockable(lock: MmapLock, vmar: Vmar, va: number, len: number): boolean {
    for (const at of [va, va + Math.max(len, 1) - 1]) {
      const m = vmar.findMapping(at);
      if (m < 0 || lock.vmaWriteLocked(vmar.maps.start(m), vmar.maps.end(m))) return false;
    }
    return true;
  }

  /** fork from thread `t`: the child has one thread (its pid is the result). */
  fork(t: Thread): ThreadOp {
    const vmar = this.sys.procs.require(t.pid).vmar;
    return {
      kind: 'fork',
      lock: 'write',
      steps: 1 + vmar.mappings.size,
      run: () => {
        // dup_mmap write-locks every mapping of the parent.
        this.lockVmas(t, vmar.space.lower, vmar.space.upper);
        return this.sys.fork(t.pid);
      },
    };
  }

  /**
   * `clone(CLONE_VM | CLONE_THREAD)` from thread `t`: a new thread of its process runs
   * `start(thread)` under `host`; the result is the new tid.
   */
  clone(t: Thread, start: (thread: Thread) => ThreadProgram, host: ThreadHost): ThreadOp {
    return {
      kind: 'clone',
      lock: 'none',
      steps: 1,
      run: () => {
        const thread = this.sys.procs.clone(t.pid);
        host.add(thread, start(thread));
        return thread.tid;
      },
    };
  }

  /** Thread `t` exits (the last thread's exit ends its process); the result is 0. */
  exit(t: Thread): ThreadOp {
    return {
      kind: 'exit',
      lock: 'read',
      steps: 1,
      run: () => {
        this.sys.procs.exitThread(t.tid);
        return 0;
      },
    };
  }
}
