import {
  type FileOp,
  type FileOpResult,
  HOOK_FILE_OP,
  HOOK_LOOKUP_FILE,
  MAP_SHARED,
  MS_SYNC,
  PROT_READ,
  PROT_WRITE,
  type Vmo,
} from '@mmkit/core';
import { check, type Workload, type WorkloadContext } from './workload.ts';

const PAGE = 4096;

/**
 * A process serving a file through the page cache while its pages are evicted: the server
 * maps its content file shared and read-only and forks workers that read random pages
 * (page-cache loads, then hits); a maintenance task evicts ranges of the file while workers
 * map them (removal of mapped pages; the next read reloads them); the server appends to a
 * log file through a shared writable mapping and `msync`s it (writeback).
 */
export const fileServer: Workload = {
  name: 'file-server',
  description:
    'serve a file through the page cache while its pages are evicted; log through a shared mapping + msync',
  requires: ['pagecache'],
  run(ctx: WorkloadContext): void {
    const { kernel, sys, random, scale } = ctx;
    const fileOp = (op: FileOp): FileOpResult => {
      const r = kernel.plugins.first(HOOK_FILE_OP, op);
      if (r === undefined || (typeof r === 'number' && r < 0))
        throw new Error(`file op ${op.op} failed (${String(r)})`);
      ctx.op(op.op);
      return r;
    };
    const lookup = (name: string): Vmo => {
      const vmo = kernel.plugins.first(HOOK_LOOKUP_FILE, name);
      if (vmo === undefined) throw new Error(`file ${name} does not exist`);
      return vmo;
    };
    const contentPages = Math.max(32, Math.round(4096 * scale));
    const logPages = 64;
    const requests = Math.max(64, Math.round(20000 * scale));
    fileOp({ op: 'file', name: 'content', size: contentPages * PAGE });
    fileOp({ op: 'file', name: 'log', size: logPages * PAGE });
    const stamp = new Uint8Array(16);
    for (let p = 0; p < contentPages; p += 4) {
      stamp[0] = p & 0xff;
      fileOp({ op: 'pwrite', name: 'content', offset: p * PAGE, data: stamp });
    }
    fileOp({ op: 'evict', name: 'content', offset: 0, len: contentPages * PAGE });
    const server = sys.spawn();
    ctx.op('spawn');
    const content = check(
      sys.mmap(server, 0, contentPages * PAGE, PROT_READ, MAP_SHARED, 0, lookup('content')),
      'mmap',
    );
    const log = check(
      sys.mmap(server, 0, logPages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 0, lookup('log')),
      'mmap',
    );
    ctx.op('mmap');
    ctx.op('mmap');
    const workers = [sys.fork(server), sys.fork(server)];
    ctx.op('fork');
    ctx.op('fork');
    const buf = new Uint8Array(64);
    let logAt = 0;
    for (let r = 0; r < requests; r++) {
      const pid = workers[r % workers.length];
      sys.readMemory(pid, content + Math.floor(random() * contentPages) * PAGE, buf);
      ctx.op('read');
      if (r % 8 === 0) {
        buf[0] = r & 0xff;
        sys.writeMemory(server, log + (logAt % (logPages * PAGE)), buf);
        logAt += buf.length;
        ctx.op('write');
      }
      if (r % 512 === 511) {
        check(sys.msync(server, log, logPages * PAGE, MS_SYNC), 'msync');
        ctx.op('msync');
        const first = Math.floor(random() * contentPages);
        const n = Math.min(contentPages - first, 1 + Math.floor(random() * 256));
        fileOp({ op: 'evict', name: 'content', offset: first * PAGE, len: n * PAGE });
      }
      if ((r & 255) === 0) ctx.progress(r, requests);
    }
    ctx.progress(requests, requests);
  },
};
