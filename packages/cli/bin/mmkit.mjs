#!/usr/bin/env node
// Entry point of the `mmkit` bin: registers the TypeScript loader, then runs the CLI.
// The loader is given the workspace's tsconfig by path: left to itself it would look for one
// from the current directory, and without it the decorators of the plugins do not compile.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../../../tsconfig.json', import.meta.url)) });
await import('../src/main.ts');
