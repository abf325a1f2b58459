// How tests start the CLI: the build that test/global-setup.ts made, from the repository root.
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** `spawn(process.execPath, [...CLI_ARGS, 'serve'], { cwd: ROOT })` runs `feedproxy serve`. */
export const CLI_ARGS = ['dist/cli.js'];
