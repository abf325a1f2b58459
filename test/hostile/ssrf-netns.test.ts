// Belt and braces for ssrf-matrix.test.ts: run it again in a network namespace that has only
// loopback (`unshare -n`, then `ip link set lo up`), so a broken guard *and* a broken connect seam
// still could not send a packet anywhere. Needs root and util-linux's unshare, which .ci/run has;
// elsewhere this file says why it skipped.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const inNamespace = process.env.FEEDPROXY_TEST_NETNS === '1';
const canUnshare =
  !inNamespace &&
  process.getuid?.() === 0 &&
  spawnSync('unshare', ['-n', 'true'], { stdio: 'ignore' }).status === 0 &&
  spawnSync('ip', ['-V'], { stdio: 'ignore' }).status === 0;

describe('SSRF matrix inside a loopback-only network namespace', () => {
  it.skipIf(!canUnshare)('passes with no network but loopback', { timeout: 180_000 }, async () => {
    const vitest = fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url));
    const script = `ip link set lo up && exec "${process.execPath}" "${vitest}" run test/hostile/ssrf-matrix.test.ts`;
    // No CI flag inside: the namespace has no Redis, and this file needs none (test/helpers/stores.ts
    // insists on Redis when CI is set).
    const { CI: _ci, ...env } = process.env;
    const child = spawn('unshare', ['-n', 'sh', '-c', script], { cwd: ROOT, env: { ...env, FEEDPROXY_TEST_NETNS: '1', NO_COLOR: '1' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

    expect(code, output.slice(-4000)).toBe(0);
    // The namespace check inside the file ran: it only exists when FEEDPROXY_TEST_NETNS=1.
    expect(output).toMatch(/6 passed/);
  });
});
