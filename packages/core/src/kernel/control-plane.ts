import {
  addComponent,
  addEntity,
  hasComponent,
  type QueryResult,
  query,
  removeComponent,
  removeEntity,
  type World,
} from 'bitecs';
import { MmError } from '../errors.ts';
import type { Violation } from './check.ts';

/**
 * The control plane of one kernel as bitecs entities: processes, files and the VMOs mappings
 * refer to. Frames and page-table nodes stay pfn-indexed columns and mappings stay ids of
 * the `MappingTable` (an entity each would cost more than the operation that makes it); a
 * process's entity is found from its pid and a VMO's from its id in the `VmoTable`; a file
 * keeps its own entity (the page cache's `PageMap.entity`).
 *
 * Components are created per control plane (bitecs keeps component data in the component
 * objects), so two kernels share nothing. Tags are empty components that queries find:
 * `Threaded` (a process with more than one live thread), `Dirty` (a file with pages marked
 * dirty) and `UnderRemoval` (a file whose pages a removal is taking out of the cache). The
 * owners of the facts (the process table, a page map) set the tags when the fact changes;
 * their `check()` compares the tag with the fact.
 *
 * Invariants: `byPid` and `byVmoId` hold exactly the live process and VMO entities, each
 * carrying the matching `Process.pid` or `Vmo.id` value.
 */
export class ControlPlane {
  /** Process entities: `pid[eid]`. */
  readonly Process = { pid: [] as number[] };
  /** VMO entities: `id[eid]` is the VMO's id in the mapping table's `VmoTable`. */
  readonly Vmo = { id: [] as number[] };
  /** File entities: `name[eid]`. */
  readonly File = { name: [] as string[] };
  /** Tag: a process with more than one live thread. */
  readonly Threaded = {};
  /** Tag: a file with pages marked dirty (newer than its backing store). */
  readonly Dirty = {};
  /** Tag: a file a page-cache removal is running on. */
  readonly UnderRemoval = {};
  private readonly byPid = new Map<number, number>();
  private readonly byVmoId = new Map<number, number>();

  constructor(readonly world: World) {}

  /** Makes the entity of a new process `pid`. */
  addProcess(pid: number): number {
    if (this.byPid.has(pid)) throw new MmError('InvalidArgument', `pid ${pid} already has an entity`);
    const eid = addEntity(this.world);
    addComponent(this.world, eid, this.Process);
    this.Process.pid[eid] = pid;
    this.byPid.set(pid, eid);
    return eid;
  }

  /** Removes the entity of process `pid` (it exited). */
  removeProcess(pid: number): void {
    removeEntity(this.world, this.processEntity(pid));
    this.byPid.delete(pid);
  }

  /** The entity of live process `pid`; throws `InvalidArgument` if there is none. */
  processEntity(pid: number): number {
    const eid = this.byPid.get(pid);
    if (eid === undefined) throw new MmError('InvalidArgument', `no entity for pid ${pid}`);
    return eid;
  }

  /** The entity of live process `pid`, or -1. */
  processEntityOrNull(pid: number): number {
    return this.byPid.get(pid) ?? -1;
  }

  /** Makes the entity of the VMO that was just given id `id`. */
  addVmo(id: number): number {
    if (this.byVmoId.has(id)) throw new MmError('InvalidArgument', `VMO id ${id} already has an entity`);
    const eid = addEntity(this.world);
    addComponent(this.world, eid, this.Vmo);
    this.Vmo.id[eid] = id;
    this.byVmoId.set(id, eid);
    return eid;
  }

  /** Removes the entity of VMO `id` (its id was freed). */
  removeVmo(id: number): void {
    removeEntity(this.world, this.vmoEntity(id));
    this.byVmoId.delete(id);
  }

  /** The entity of VMO `id`; throws `InvalidArgument` if there is none. */
  vmoEntity(id: number): number {
    const eid = this.byVmoId.get(id);
    if (eid === undefined) throw new MmError('InvalidArgument', `no entity for VMO id ${id}`);
    return eid;
  }

  /** The entity of VMO `id`, or -1. */
  vmoEntityOrNull(id: number): number {
    return this.byVmoId.get(id) ?? -1;
  }

  /** Makes the entity of a new file named `name`. */
  addFile(name: string): number {
    const eid = addEntity(this.world);
    addComponent(this.world, eid, this.File);
    this.File.name[eid] = name;
    return eid;
  }

  /** Removes the entity `eid` of a file that is gone. */
  removeFile(eid: number): void {
    if (!hasComponent(this.world, eid, this.File))
      throw new MmError('InvalidArgument', `entity ${eid} is not a file`);
    removeEntity(this.world, eid);
  }

  /** Sets (`on`) or clears tag `tag` of entity `eid`. */
  setTag(eid: number, tag: object, on: boolean): void {
    if (on) addComponent(this.world, eid, tag);
    else removeComponent(this.world, eid, tag);
  }

  hasTag(eid: number, tag: object): boolean {
    return hasComponent(this.world, eid, tag);
  }

  /** Live process entities. */
  processes(): QueryResult {
    return query(this.world, [this.Process]);
  }

  /** Live VMO entities. */
  vmos(): QueryResult {
    return query(this.world, [this.Vmo]);
  }

  /** Live file entities. */
  files(): QueryResult {
    return query(this.world, [this.File]);
  }

  /** File entities tagged `Dirty`. */
  dirtyFiles(): QueryResult {
    return query(this.world, [this.File, this.Dirty]);
  }

  /** Process entities tagged `Threaded`. */
  threadedProcesses(): QueryResult {
    return query(this.world, [this.Process, this.Threaded]);
  }

  /**
   * The entity indices agree with the queries: every indexed entity is live, of its family,
   * with its key, and the queries find no entity the indices miss.
   */
  check(): Violation[] {
    const out: Violation[] = [];
    const family = (
      name: string,
      index: Map<number, number>,
      comp: object,
      key: number[],
      all: QueryResult,
    ) => {
      for (const [k, eid] of index)
        if (!hasComponent(this.world, eid, comp) || key[eid] !== k)
          out.push({ kind: 'entity', message: `${name} ${k}: entity ${eid} does not carry it` });
      if (all.length !== index.size)
        out.push({ kind: 'entity', message: `${all.length} ${name} entities but ${index.size} indexed` });
    };
    family('pid', this.byPid, this.Process, this.Process.pid, this.processes());
    family('VMO id', this.byVmoId, this.Vmo, this.Vmo.id, this.vmos());
    return out;
  }
}

/**
 * A system over the `Dirty` query: the names of the files holding pages marked dirty
 * (`PG_DIRTY`: written by `pwrite`, or through a mapping whose PTE dirty bit was taken at
 * munmap or msync), sorted. A page dirty only in a live PTE is not counted until then.
 */
export function dirtyFileNames(control: ControlPlane): string[] {
  return Array.from(control.dirtyFiles(), (eid) => control.File.name[eid]).sort();
}
