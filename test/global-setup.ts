// Builds dist/ once before the suite: tests that spawn the CLI run `node dist/cli.js`, which starts
// in a fraction of the time tsx needs on a loaded 2-core machine. FEEDPROXY_TEST_SKIP_BUILD=1 skips
// it for a run of test files that never spawn the CLI.
//
// Built aside and moved in file by file: vitest starts the unit project's files (and, seen in CI,
// integration files that spawn the CLI) while this runs, and tsc writing dist/ in place let one of
// them import a module it had truncated ("does not provide an export named …"). A rename replaces a
// file whole, and a file whose bytes are unchanged (the usual case: dist/ was built by `npm ci`) is
// not touched at all.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Beside dist/ (same depth, so the source maps' relative paths are the same; ignored by git). */
const STAGING = '.dist-staging';

export default function buildOnce(): void {
  if (process.env.FEEDPROXY_TEST_SKIP_BUILD === '1') return;
  rmSync(STAGING, { recursive: true, force: true });
  try {
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', STAGING], {
      stdio: 'inherit',
    });
    for (const file of filesUnder(STAGING)) {
      const target = join('dist', file);
      if (sameBytes(join(STAGING, file), target)) continue;
      mkdirSync(dirname(target), { recursive: true });
      renameSync(join(STAGING, file), target);
    }
  } finally {
    rmSync(STAGING, { recursive: true, force: true });
  }
}

function filesUnder(root: string, prefix = ''): string[] {
  return readdirSync(join(root, prefix), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(root, join(prefix, entry.name)) : [join(prefix, entry.name)],
  );
}

function sameBytes(a: string, b: string): boolean {
  try {
    return readFileSync(a).equals(readFileSync(b));
  } catch {
    return false; // not built yet
  }
}
