import type { LinuxSyscalls } from '@mmkit/core';
import { expect } from 'vitest';

/** The byte at `va` in process `pid`, read through the system-call layer (the read must succeed). */
export function readByte(s: LinuxSyscalls, pid: number, va: number): number {
  const out = new Uint8Array(1);
  expect(s.readMemory(pid, va, out)).toBe(0);
  return out[0];
}
