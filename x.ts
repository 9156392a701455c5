import { parallelKernel, runWorkers, type ParallelOp } from './packages/cli/src/parallel/index.ts';
import { PROP_R, PROP_RW, PROP_USER } from '@mmkit/core';
const protocol = process.argv[2] as 'subtree';
const recycle = process.argv[3] === '1';
function rng(seed: number) { let s = seed >>> 0 || 1; return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 32; }; }
function plan(chunks: number[], seed: number): ParallelOp[] {
  const r = rng(seed); const ops: ParallelOp[] = [];
  for (let i = 0; i < 1500; i++) {
    const va = chunks[Math.floor(r() * chunks.length)]; const x = r();
    if (x < 0.4) ops.push({ op: 'map', va, pages: 8, prop: PROP_RW | PROP_USER });
    else if (x < 0.7) ops.push({ op: 'unmap', va, pages: 8 });
    else if (x < 0.85) ops.push({ op: 'protect', va, pages: 8, prop: r() < 0.5 ? PROP_R | PROP_USER : PROP_RW | PROP_USER });
    else ops.push({ op: 'query', va, pages: 8 });
  }
  return ops;
}
const G = 0x4000_0000;
const chunks = Array.from({ length: 4 }, (_, i) => G + i * 8 * 4096);
let fails = 0; const runs = Number(process.argv[4] ?? 10);
for (let run = 0; run < runs; run++) {
  const spec = { arch: 'x86_64', memory: 64 << 20, layout: 'soa', protocol, recycle, debug: true } as const;
  const k = parallelKernel(spec);
  const t = k.newUserPageTable();
  try {
    await runWorkers(k, spec, t, [plan(chunks, run * 2 + 1), plan(chunks, run * 2 + 2)], { timeoutMs: 20000 });
    const v = k.check(); if (v.length) { fails++; console.log('check', v.slice(0, 3)); }
  } catch (e) { fails++; if (fails === 1) console.log(String((e as Error).message).split('\n').slice(0, 16).join('\n')); }
}
console.log(protocol, 'recycle', recycle, 'failed runs', fails, 'of', runs);
