import { fileURLToPath } from 'node:url';
import { bundleOf } from '../../src/bundle.ts';

/**
 * The mmkit CLI's prebuilt bundle (`src/bundle.ts`): `node CLI_BUNDLE ARGS…` runs `main.ts`
 * in a process of its own, as the bin does, without the TypeScript loader's start-up (over
 * a second of CPU) in every spawned process. The tests of the bin itself and of the
 * `pnpm mmkit` path (`bad-input.test.ts`, `cli-flags.test.ts`) still spawn those.
 */
export const CLI_BUNDLE = fileURLToPath(bundleOf(new URL('../../src/main.ts', import.meta.url)));
