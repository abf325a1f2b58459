// Builds dist/ once before the suite: tests that spawn the CLI run `node dist/cli.js`, which starts
// in a fraction of the time tsx needs on a loaded 2-core machine. FEEDPROXY_TEST_SKIP_BUILD=1 skips
// it for a run of test files that never spawn the CLI.
import { execFileSync } from 'node:child_process';

export default function buildOnce(): void {
  if (process.env.FEEDPROXY_TEST_SKIP_BUILD === '1') return;
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
