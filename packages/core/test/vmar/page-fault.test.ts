import {
  ACCESS_EXEC,
  ACCESS_READ,
  ACCESS_WRITE,
  AnonVmo,
  FAULT_AROUND_PAGES,
  FAULT_HANDLED,
  FAULT_SIGBUS,
  FAULT_SIGSEGV,
  handlePageFault,
  PROP_ACCESSED,
  PROP_DIRTY,
  PROP_W,
  QUERY_MAPPED,
  RSS_FILE,
  readUser,
  translateUser,
  VM_READ,
  VM_WRITE,
  type Vmar,
  writeUser,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
// Internal to the core (user-access's translation), not part of its public API.
import { FAULT_NEEDS_WINDOW, handlePageFaultOnPage } from '../../src/vmar/page-fault.ts';
import { ARCHS } from '../support/configs.ts';
import { at, expectSound, P, pfnAt, setup } from './support.ts';

const RW = VM_READ | VM_WRITE;

function propAt(vmar: Vmar, va: number): number {
  const c = vmar.space.cursor(va, va + P);
  try {
    return c.query() === QUERY_MAPPED ? c.qProp : -1;
  } finally {
    c.drop();
  }
}

/** Commits `n` pages of the shared mapping at `start` in its object (write faults), then unmaps them again. */
function commitThenZap(vmar: Vmar, start: number, n: number): void {
  for (let i = 0; i < n; i++) expect(handlePageFault(vmar, start + i * P, ACCESS_WRITE)).toBe(FAULT_HANDLED);
  vmar.discard(start, n * P);
}

describe.each(ARCHS)('page faults on $name', ({ arch }) => {
  it('refuses accesses the mapping does not allow; write implies read', () => {
    const { k, vmar } = setup({}, arch);
    vmar.map({ size: P, perms: VM_READ, placement: 'fixed', addr: at(0) });
    vmar.map({ size: P, perms: VM_WRITE, placement: 'fixed', addr: at(1) });
    vmar.map({ size: P, perms: 0, placement: 'fixed', addr: at(2) });
    expect(handlePageFault(vmar, at(5), ACCESS_READ)).toBe(FAULT_SIGSEGV);
    expect(handlePageFault(vmar, at(0), ACCESS_WRITE)).toBe(FAULT_SIGSEGV);
    expect(handlePageFault(vmar, at(0), ACCESS_EXEC)).toBe(FAULT_SIGSEGV);
    expect(handlePageFault(vmar, at(2), ACCESS_READ)).toBe(FAULT_SIGSEGV);
    expect(handlePageFault(vmar, at(1) + 5, ACCESS_READ)).toBe(FAULT_HANDLED);
    expect(handlePageFault(vmar, at(0), ACCESS_READ)).toBe(FAULT_HANDLED);
    expect(vmar.mappings.size).toBe(3);
    expectSound(k, vmar);
  });

  it('sets accessed on loads and dirty on stores, as the MMU does', () => {
    const { k, vmar } = setup({}, arch);
    vmar.map({ size: 2 * P, perms: RW, placement: 'fixed', addr: at(0) });
    expect(readUser(vmar, at(0), new Uint8Array(4))).toBe(0);
    expect(propAt(vmar, at(0)) & (PROP_ACCESSED | PROP_DIRTY)).toBe(PROP_ACCESSED);
    expect(writeUser(vmar, at(0), Uint8Array.of(1))).toBe(0);
    expect(propAt(vmar, at(0)) & PROP_DIRTY).toBe(PROP_DIRTY);
    expectSound(k, vmar);
  });

  it('gives SIGBUS past the end of a VMO', () => {
    const { k, vmar } = setup({}, arch);
    vmar.map({ size: 2 * P, perms: RW, placement: 'fixed', addr: at(0), shared: true });
    vmar.resize(at(0), 2 * P, 4 * P);
    expect(handlePageFault(vmar, at(1), ACCESS_WRITE)).toBe(FAULT_HANDLED);
    expect(handlePageFault(vmar, at(2), ACCESS_READ)).toBe(FAULT_SIGBUS);
    expect(readUser(vmar, at(3), new Uint8Array(1))).toBe(FAULT_SIGBUS);
    expectSound(k, vmar);
  });

  it('maps a private VMO page read-only and copies it on the first write', () => {
    const { k, vmar } = setup({}, arch);
    const vmo = new AnonVmo(k.frames, 4);
    vmar.map({ size: 4 * P, perms: RW, placement: 'fixed', addr: at(0), vmo });
    vmo.release();
    expect(readUser(vmar, at(1), new Uint8Array(1))).toBe(0);
    const shared = pfnAt(vmar, at(1));
    expect(shared).toBe(vmo.pageAt(1));
    expect(propAt(vmar, at(1)) & PROP_W).toBe(0);
    expect(writeUser(vmar, at(1), Uint8Array.of(9))).toBe(0);
    const own = pfnAt(vmar, at(1));
    expect(own).not.toBe(shared);
    expect(k.memory.read(shared, 0, 1)[0]).toBe(0); // the object is untouched
    expect(k.memory.read(own, 0, 1)[0]).toBe(9);
    expect(vmar.rss[RSS_FILE]).toBe(1);
    expectSound(k, vmar);
  });

  it('grants W in place to a shared page read first', () => {
    const { k, vmar } = setup({}, arch);
    vmar.map({ size: P, perms: RW, placement: 'fixed', addr: at(0), shared: true });
    expect(readUser(vmar, at(0), new Uint8Array(1))).toBe(0);
    const pfn = pfnAt(vmar, at(0));
    expect(propAt(vmar, at(0)) & PROP_W).toBe(0);
    expect(writeUser(vmar, at(0), Uint8Array.of(3))).toBe(0);
    expect(pfnAt(vmar, at(0))).toBe(pfn);
    expect(propAt(vmar, at(0)) & PROP_W).toBe(PROP_W);
    expectSound(k, vmar);
  });

  it('maps the surrounding pages of a read fault when asked (faults-around)', () => {
    const { k, vmar } = setup({}, arch);
    const pages = 2 * FAULT_AROUND_PAGES;
    vmar.map({
      size: pages * P,
      perms: RW,
      placement: 'fixed',
      addr: at(0),
      shared: true,
      faultsAround: true,
    });
    // Shared anonymous memory maps around only the pages its object has (Linux's
    // filemap_map_pages): none yet, then every page of the block once written and zapped.
    expect(handlePageFault(vmar, at(FAULT_AROUND_PAGES + 3), ACCESS_READ)).toBe(FAULT_HANDLED);
    expect(vmar.rss[RSS_FILE]).toBe(1);
    commitThenZap(vmar, at(FAULT_AROUND_PAGES), FAULT_AROUND_PAGES);
    expect(handlePageFault(vmar, at(FAULT_AROUND_PAGES + 3), ACCESS_READ)).toBe(FAULT_HANDLED);
    expect(vmar.rss[RSS_FILE]).toBe(FAULT_AROUND_PAGES);
    expect(pfnAt(vmar, at(FAULT_AROUND_PAGES))).toBeGreaterThanOrEqual(0);
    expect(pfnAt(vmar, at(FAULT_AROUND_PAGES - 1))).toBe(-1);
    expect(handlePageFault(vmar, at(1), ACCESS_WRITE)).toBe(FAULT_HANDLED);
    expect(vmar.rss[RSS_FILE]).toBe(FAULT_AROUND_PAGES + 1); // writes map one page
    expectSound(k, vmar);
  });

  it("faults in through the caller's cursor, except where the fault maps around", () => {
    const { k, vmar } = setup({}, arch);
    vmar.map({ size: 4 * P, perms: RW, placement: 'fixed', addr: at(0) });
    const file = 2 * FAULT_AROUND_PAGES;
    vmar.map({
      size: file * P,
      perms: RW,
      placement: 'fixed',
      addr: at(8),
      shared: true,
      faultsAround: true,
    });
    commitThenZap(vmar, at(8), FAULT_AROUND_PAGES);
    const c = vmar.space.cursorMut(at(1), at(2));
    try {
      expect(handlePageFaultOnPage(vmar, at(1) + 7, ACCESS_WRITE, c)).toBe(FAULT_HANDLED);
      expect(handlePageFaultOnPage(vmar, at(1), ACCESS_WRITE, c)).toBe(FAULT_HANDLED); // spurious
    } finally {
      c.drop();
    }
    expect(propAt(vmar, at(1)) & (PROP_W | PROP_ACCESSED | PROP_DIRTY)).toBe(
      PROP_W | PROP_ACCESSED | PROP_DIRTY,
    );
    const d = vmar.space.cursorMut(at(8), at(9));
    try {
      expect(handlePageFaultOnPage(vmar, at(8), ACCESS_READ, d)).toBe(FAULT_NEEDS_WINDOW);
      expect(handlePageFaultOnPage(vmar, at(4), ACCESS_READ, d)).toBe(FAULT_SIGSEGV);
    } finally {
      d.drop();
    }
    expect(pfnAt(vmar, at(8))).toBe(-1); // nothing done
    // translateUser: one cursor for the walk and the fault; a faults-around read still maps around.
    expect(translateUser(vmar, at(2), ACCESS_READ)).toBe(pfnAt(vmar, at(2)));
    expect(translateUser(vmar, at(8), ACCESS_READ)).toBe(pfnAt(vmar, at(8)));
    expect(vmar.rss[RSS_FILE]).toBe(FAULT_AROUND_PAGES);
    expect(translateUser(vmar, at(4), ACCESS_READ)).toBe(-FAULT_SIGSEGV);
    expectSound(k, vmar);
  });
});
