/**
 * Entry point of a bench child process: `node child-main <spec as JSON>` sets the workload
 * up, warms it up and serves the runner's requests (`child.ts`). The runner starts it from
 * a prebuilt bundle (`bundle.ts`), so a child pays no TypeScript loader and runs the same
 * way from any directory.
 */
import { type ChildSpec, fail, serve } from './child.ts';

try {
  serve(JSON.parse(process.argv[2] ?? '') as ChildSpec);
} catch (e) {
  fail(e);
}
