import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from '@mmkit/core';
import { check, type Workload, type WorkloadContext } from './workload.ts';

const PAGE = 4096;

/**
 * A pre-forking server: the parent builds a private heap (its code and data) and a shared
 * heap (a cache shared by all workers), then forks workers. Each worker serves requests:
 * it reads a few shared pages, writes one private heap page (copy-on-write after fork),
 * updates one shared page, and maps, fills and unmaps a per-request buffer. Workers exit after
 * a number of requests and the parent forks replacements, for several generations.
 */
export const preforkServer: Workload = {
  name: 'server',
  description: 'pre-forking server: workers touch and write a shared heap and their copy of a private heap',
  requires: [],
  run(ctx: WorkloadContext): void {
    const { sys, random, scale } = ctx;
    const privPages = Math.max(16, Math.round(4096 * scale));
    const sharedPages = Math.max(16, Math.round(8192 * scale));
    const workers = 4;
    const generations = 3;
    const requests = Math.max(8, Math.round(1500 * scale));
    const total = workers * generations * requests;
    const parent = sys.spawn();
    ctx.op('spawn');
    const priv = check(
      sys.mmap(parent, 0, privPages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS),
      'mmap',
    );
    const shared = check(
      sys.mmap(parent, 0, sharedPages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS),
      'mmap',
    );
    ctx.op('mmap');
    ctx.op('mmap');
    const word = new Uint8Array(8);
    for (let p = 0; p < privPages; p++) {
      word[0] = p & 0xff;
      sys.writeMemory(parent, priv + p * PAGE, word);
      ctx.op('write');
    }
    for (let p = 0; p < sharedPages; p += 2) {
      sys.writeMemory(parent, shared + p * PAGE, word);
      ctx.op('write');
    }
    let done = 0;
    const buf = new Uint8Array(64);
    for (let gen = 0; gen < generations; gen++) {
      const pids: number[] = [];
      for (let w = 0; w < workers; w++) {
        pids.push(sys.fork(parent));
        ctx.op('fork');
      }
      for (let r = 0; r < requests; r++) {
        for (const pid of pids) {
          for (let i = 0; i < 4; i++) {
            sys.readMemory(pid, shared + Math.floor(random() * sharedPages) * PAGE, buf);
            ctx.op('read');
          }
          buf[0] = r & 0xff;
          sys.writeMemory(pid, priv + Math.floor(random() * privPages) * PAGE + 64, buf);
          sys.writeMemory(pid, shared + Math.floor(random() * sharedPages) * PAGE + 128, buf);
          ctx.op('write');
          ctx.op('write');
          const req = check(
            sys.mmap(pid, 0, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS),
            'mmap',
          );
          ctx.op('mmap');
          for (let p = 0; p < 4; p++) {
            sys.writeMemory(pid, req + p * PAGE, buf);
            ctx.op('write');
          }
          check(sys.munmap(pid, req, 16 * PAGE), 'munmap');
          ctx.op('munmap');
          done++;
        }
        if ((r & 63) === 0) ctx.progress(done, total);
      }
      // The last generation stays alive so the summary shows the workers' RSS.
      if (gen < generations - 1) {
        for (const pid of pids) {
          sys.exit(pid);
          ctx.op('exit');
        }
      }
    }
    ctx.progress(total, total);
  },
};
