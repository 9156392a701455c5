import {
  addComponent,
  addEntity,
  getEntityComponents,
  hasComponent,
  type QueryResult,
  query,
  removeComponent,
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
 *
 * Entities are recycled (`newEntity`, `recycleEntity`): an entity whose process, VMO, file
 * or page table is gone is stripped of its components and kept for the next one, rather
 * than removed from the world and added again. In a world that has seen several component
 * types and queries, bitecs's `addEntity` and `removeEntity` cost several times an
 * `addComponent` and `removeComponent` (they allocate and visit every query), and a replay
 * makes and ends a process per fork. A recycled entity has no component, so no query finds
 * it; bitecs counts it as a live entity.
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
  /** Entities without components, for `newEntity` to hand out again. */
  private readonly spare: number[] = [];

  constructor(readonly world: World) {}

  /** An entity with no component, for a family to add its own to: a recycled one if any. */
  newEntity(): number {
    return this.spare.length > 0 ? (this.spare.pop() as number) : addEntity(this.world);
  }

  /** The thing entity `eid` stood for is gone: strips it of every component and keeps it for `newEntity`. */
  recycleEntity(eid: number): void {
    for (const component of getEntityComponents(this.world, eid)) removeComponent(this.world, eid, component);
    this.spare.push(eid);
  }

  /** Makes the entity of a new process `pid`. */
  addProcess(pid: number): number {
    if (this.byPid.has(pid)) throw new MmError('InvalidArgument', `pid ${pid} already has an entity`);
    const eid = this.newEntity();
    addComponent(this.world, eid, this.Process);
    this.Process.pid[eid] = pid;
    this.byPid.set(pid, eid);
    return eid;
  }

  /** Removes the entity of process `pid` (it exited). */
  removeProcess(pid: number): void {
    this.recycleEntity(this.processEntity(pid));
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
    const eid = this.newEntity();
    addComponent(this.world, eid, this.Vmo);
    this.Vmo.id[eid] = id;
    this.byVmoId.set(id, eid);
    return eid;
  }

  /** Removes the entity of VMO `id` (its id was freed). */
  removeVmo(id: number): void {
    this.recycleEntity(this.vmoEntity(id));
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
    const eid = this.newEntity();
    addComponent(this.world, eid, this.File);
    this.File.name[eid] = name;
    return eid;
  }

  /** Removes the entity `eid` of a file that is gone. */
  removeFile(eid: number): void {
    if (!hasComponent(this.world, eid, this.File))
      throw new MmError('InvalidArgument', `entity ${eid} is not a file`);
    this.recycleEntity(eid);
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
