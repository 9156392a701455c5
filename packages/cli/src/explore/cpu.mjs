// Entry of a simulated CPU of the interleaving explorer: registers the TypeScript loader
// (given the workspace's tsconfig, which the plugins' decorators need), then runs the CPU.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../../../../tsconfig.json', import.meta.url)) });
await import('./cpu-main.ts');
