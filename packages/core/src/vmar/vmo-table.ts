import { MmError } from '../errors.ts';
import type { ControlPlane } from '../kernel/control-plane.ts';
import type { Vmo } from './vmo.ts';

/**
 * The VMOs that mappings refer to, by id: a mapping's `vmo` field is an id in this table
 * (-1 for anonymous memory). VMOs are few, control-plane objects, so the table is an array
 * of objects; ids are dense and reused (LIFO free list).
 *
 * Invariant: a VMO has an id exactly while at least one mapping refers to it, and
 * `users[id]` counts those mappings (`ref` on each mapping's creation, `unref` on its
 * disposal; the VMO's own reference count is the mapping's business, not the table's).
 * With a control plane, a VMO is an entity of it exactly while it has an id (created with
 * the id, removed when the last mapping lets it go), found by `control.vmoEntity(id)`.
 */
export class VmoTable {
  private readonly objects: (Vmo | null)[] = [];
  private readonly users: number[] = [];
  private readonly ids = new Map<Vmo, number>();
  private readonly free: number[] = [];

  constructor(private readonly control?: ControlPlane) {}

  /** Number of VMOs with an id. */
  get size(): number {
    return this.ids.size;
  }

  /** The id of `vmo`, given one if it has none; counts one more mapping using it. */
  ref(vmo: Vmo): number {
    let id = this.ids.get(vmo);
    if (id === undefined) {
      id = this.free.length > 0 ? (this.free.pop() as number) : this.objects.length;
      this.objects[id] = vmo;
      this.users[id] = 0;
      this.ids.set(vmo, id);
      this.control?.addVmo(id);
    }
    this.users[id]++;
    return id;
  }

  /** One more mapping uses VMO `id`, which has an id already (a split or copy of a mapping of it). */
  addUser(id: number): void {
    if (this.objects[id] == null) throw new MmError('InvalidArgument', `VMO id ${id} is not in use`);
    this.users[id]++;
  }

  /** One mapping stopped using VMO `id`; the last one frees the id. */
  unref(id: number): void {
    const vmo = this.objects[id];
    if (vmo === null || vmo === undefined) throw new MmError('InvalidArgument', `VMO id ${id} is not in use`);
    if (--this.users[id] > 0) return;
    this.objects[id] = null;
    this.ids.delete(vmo);
    this.free.push(id);
    this.control?.removeVmo(id);
  }

  /** The VMO of `id` (-1: null, anonymous memory). */
  get(id: number): Vmo | null {
    return id < 0 ? null : (this.objects[id] ?? null);
  }

  /** Mappings using VMO `id` (0 if the id is free). */
  usersOf(id: number): number {
    return this.objects[id] == null ? 0 : this.users[id];
  }
}
