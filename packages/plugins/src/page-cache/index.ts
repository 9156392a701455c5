export { type BackingStore, FsStore, MemoryStore, STORE_PAGE_SIZE } from './backing-store.ts';
export { FileVmo } from './file-vmo.ts';
export {
  PAGE_SLOT_SCHEMA,
  PageMap,
  type PageMapStats,
  PG_DIRTY,
  PG_LOCKED,
  PG_PAGEMAP,
  PG_REMOVAL,
  PG_UPTODATE,
  type RmapEntry,
  runTask,
  SHOOTDOWN_BATCH,
  type Task,
  WRITEBACK_BATCH,
  YIELD_BLOCKED,
  YIELD_IO,
} from './page-map.ts';
export {
  type PageCacheOptions,
  PageCacheOptionsToken,
  PageCachePlugin,
  pageCache,
} from './plugin.ts';
