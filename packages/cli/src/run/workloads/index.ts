import { allocatorChurn } from './allocator-churn.ts';
import { arenas } from './arenas.ts';
import { fileServer } from './file-server.ts';
import { preforkServer } from './prefork-server.ts';
import type { Workload } from './workload.ts';

/** The built-in workloads by name. */
export const WORKLOADS: Readonly<Record<string, Workload>> = {
  [preforkServer.name]: preforkServer,
  [allocatorChurn.name]: allocatorChurn,
  [fileServer.name]: fileServer,
  [arenas.name]: arenas,
};

export const WORKLOAD_NAMES = Object.keys(WORKLOADS);
