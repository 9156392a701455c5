import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from '../archs.ts';

/**
 * Throws a `UsageError` naming `option` unless a report can be written at `path`: its folder
 * exists and is writable, and the path is not a folder nor a file that cannot be written.
 * Checked before the benchmarks start, so that a typo does not cost their whole run; nothing
 * is created.
 */
export function checkOutputPath(path: string, option: string): void {
  const problem = outputPathProblem(resolve(path));
  if (problem !== undefined) throw new UsageError(`${option} ${path}: ${problem}`);
}

function outputPathProblem(path: string): string | undefined {
  const folder = dirname(path);
  let folderStat: ReturnType<typeof statSync>;
  try {
    folderStat = statSync(folder);
  } catch (e) {
    return `cannot use the folder ${folder} (${(e as NodeJS.ErrnoException).code})`;
  }
  if (!folderStat.isDirectory()) return `${folder} is not a folder`;
  let existing: ReturnType<typeof statSync> | undefined;
  try {
    existing = statSync(path);
  } catch {
    existing = undefined;
  }
  if (existing?.isDirectory()) return 'is a folder';
  try {
    accessSync(existing !== undefined ? path : folder, constants.W_OK);
  } catch (e) {
    return `cannot be written (${(e as NodeJS.ErrnoException).code})`;
  }
  return undefined;
}
