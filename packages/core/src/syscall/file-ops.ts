/**
 * Files belong to a plugin (the page cache); the syscall layer and the trace replayer
 * reach them through two plugin hooks, called with `kernel.plugins.first`:
 * - `lookupFile(name: string): Vmo | undefined` — the VMO of an existing file, for `mmap`;
 * - `fileOp(op: FileOp): FileOpResult | undefined` — runs a file operation.
 * Without such a plugin, both give `undefined`: the kernel has no files.
 */
export const HOOK_LOOKUP_FILE = 'lookupFile';
export const HOOK_FILE_OP = 'fileOp';

/**
 * A file operation (mmtrace's vocabulary): `file` creates a zero-filled file or truncates
 * an existing one in place to 0 and then to `size`; `pwrite` writes (growing the file);
 * `pread` reads what exists; `evict` drops the cached pages of a byte range.
 */
export type FileOp =
  | { op: 'file'; name: string; size: number }
  | { op: 'pwrite'; name: string; offset: number; data: Uint8Array }
  | { op: 'pread'; name: string; offset: number; len: number }
  | { op: 'evict'; name: string; offset: number; len: number };

/** What `fileOp` returns: 0, the bytes read (`pread`), or `-errno` (`-ENOENT` for a name never created). */
export type FileOpResult = number | Uint8Array;
