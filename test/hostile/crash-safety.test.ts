// Issue 7, crash safety at start: a data directory that cannot be written, and a secret key that
// does not open the store, each stop the CLI with one clear line and exit code 2 — not a SQLite
// error code, not garbage later. (SIGKILL during writes is in test/cli/cli.test.ts.)
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createDeps } from '../../src/deps.js';
import { createLogger } from '../../src/logger.js';
import { CLI_ARGS, ROOT } from '../helpers/cli.js';

const dirs: string[] = [];
const isRoot = process.getuid?.() === 0;
const canMountReadOnly = isRoot && spawnSync('unshare', ['-m', 'true'], { stdio: 'ignore' }).status === 0;

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'feedproxy-crash-'));
  dirs.push(dir);
  return dir;
}

const newKey = () => randomBytes(32).toString('base64');
const envFor = (dataDir: string, key?: string) => ({
  FEEDPROXY_CONFIG: '',
  FEEDPROXY_STORE: `sqlite://${join(dataDir, 'feedproxy.sqlite')}`,
  ...(key ? { FEEDPROXY_SECRET_KEY: key } : {}),
  LOG_LEVEL: 'silent',
});

/** Runs `feedproxy users create NAME`, optionally wrapped (e.g. in a mount namespace). */
function runCli(env: Record<string, string>, wrap?: (command: string) => string[]): Promise<{ code: number | null; stderr: string }> {
  const cli = `"${process.execPath}" ${CLI_ARGS.join(' ')} users create someone`;
  const [command, ...args] = wrap ? wrap(cli) : ['sh', '-c', cli];
  const child = spawn(command!, args, { cwd: ROOT, env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

describe('unwritable data directory at start', () => {
  it.skipIf(!canMountReadOnly && isRoot)(
    'refuses a read-only data directory with one clear line and exit code 2',
    { timeout: 60_000 },
    async () => {
      const dir = tempDir();
      const data = join(dir, 'data');
      mkdirSync(data);
      // root writes through file modes, so a read-only mount is the only honest read-only dir for root.
      const run = isRoot
        ? await runCli(envFor(data, newKey()), (cli) => [
            'unshare',
            '-m',
            'sh',
            '-c',
            `mount -t tmpfs -o ro tmpfs "${data}" && exec ${cli}`,
          ])
        : (chmodSync(data, 0o555), await runCli(envFor(data, newKey())));
      expect(run.code).toBe(2);
      expect(run.stderr.trim()).toMatch(
        new RegExp(
          `^feedproxy: configuration error: FEEDPROXY_STORE: the data directory ${data} (is on a read-only file system|is not writable by this user)$`,
        ),
      );
    },
  );

  it('refuses a data directory under a regular file', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), 'not a directory');
    const run = await runCli(envFor(join(dir, 'file', 'data')));
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toBe(
      `feedproxy: configuration error: FEEDPROXY_STORE: the data directory ${join(dir, 'file', 'data')} has a path component that is not a directory`,
    );
  });
});

describe('a secret key that does not open the store', () => {
  it('stops the CLI with one clear line and exit code 2, and the right key still works', { timeout: 90_000 }, async () => {
    const data = join(tempDir(), 'data');
    const key = newKey();
    expect((await runCli(envFor(data, key))).code).toBe(0);

    const wrong = await runCli(envFor(data, newKey()));
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.trim()).toBe(
      'feedproxy: configuration error: FEEDPROXY_SECRET_KEY: does not open the secrets in this store (it was created with another key); start with the key the store was created with',
    );
    expect(wrong.stderr).not.toContain(key);
    expect((await runCli(envFor(data, key))).code).toBe(0);
  });

  it('notices a lost generated key file instead of generating a new key over old secrets', async () => {
    const data = join(tempDir(), 'data');
    const config = loadConfig(envFor(data));
    const logger = createLogger('silent');
    await (await createDeps(config, { logger })).close();
    unlinkSync(join(data, 'secret.key'));

    const error = await createDeps(config, { logger }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('FEEDPROXY_SECRET_KEY');
  });
});
