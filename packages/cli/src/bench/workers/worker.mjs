// Entry of a bench pool worker thread: registers the TypeScript loader (given the workspace's
// tsconfig, which the plugins' decorators need), then runs the worker's module.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../../../../../tsconfig.json', import.meta.url)) });
await import('./worker-main.ts');
