// The deployment files: docker-compose.yml validates and runs one feedproxy built from our Dockerfile,
// with its SQLite store on a volume, so `docker compose up` keeps users' data across upgrades.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SERVICE_NODE_FLAGS } from '../bench/lib/child.js';
import { findOnPath, isolatedEnv, run } from './interop/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const DATA_DIR = '/app/data';
const dockerCompose = findOnPath('docker-compose');

interface ComposeService {
  build?: string | { context?: string; dockerfile?: string };
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
}
interface ComposeFile {
  services?: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** The instructions of the Dockerfile's last stage (the image that runs), continuation lines joined. */
function readFinalStage(dockerfile: string): Array<{ instruction: string; args: string }> {
  const lines = dockerfile
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const parsed = lines.map((line) => {
    const [instruction = '', ...rest] = line.split(/\s+/);
    return { instruction: instruction.toUpperCase(), args: rest.join(' ') };
  });
  const lastFrom = parsed.map((entry) => entry.instruction).lastIndexOf('FROM');
  return parsed.slice(lastFrom);
}

/** CMD/ENTRYPOINT args as words, exec form (JSON array) or shell form. */
function readWords(args: string): string[] {
  if (args.startsWith('[')) return JSON.parse(args) as string[];
  return args.split(/\s+/);
}

describe('deployment files', () => {
  it.skipIf(!dockerCompose)('docker-compose validates docker-compose.yml (needs docker-compose)', async () => {
    // A home of its own: no ~/.docker config or DOCKER_HOST of this machine changes the answer.
    const home = mkdtempSync(join(tmpdir(), 'feedproxy-compose-'));
    try {
      const result = await run(dockerCompose!, ['-f', COMPOSE_FILE, 'config', '-q'], {
        cwd: ROOT,
        env: isolatedEnv(home),
        timeoutMs: 60_000,
      });
      expect(result.code, result.stderr).toBe(0);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('runs one feedproxy service built from the Dockerfile, its data on a volume at /app/data', () => {
    const compose = parse(readFileSync(COMPOSE_FILE, 'utf8')) as ComposeFile;
    const services = Object.entries(compose.services ?? {});
    expect(services.map(([name]) => name)).toEqual(['feedproxy']);
    const service = compose.services!.feedproxy!;

    const build = typeof service.build === 'string' ? { context: service.build } : service.build;
    expect(build, 'feedproxy is built, not pulled').toBeDefined();
    const dockerfile = resolve(ROOT, build?.context ?? '.', build?.dockerfile ?? 'Dockerfile');
    expect(dockerfile).toBe(join(ROOT, 'Dockerfile'));

    const targets = (service.volumes ?? []).map((volume) =>
      typeof volume === 'string' ? { source: volume.split(':')[0], target: volume.split(':')[1] } : volume,
    );
    const data = targets.find((volume) => volume.target === DATA_DIR);
    expect(data, `a volume mounted at ${DATA_DIR}`).toBeDefined();
    // A named volume must be declared at the top level, or compose refuses the file.
    if (data?.source !== undefined && !/^[./~]/.test(data.source)) expect(Object.keys(compose.volumes ?? {})).toContain(data.source);
  });

  it('builds an image that runs `dist/cli.js serve` with its store under /app/data', () => {
    const path = join(ROOT, 'Dockerfile');
    expect(existsSync(path)).toBe(true);
    const stage = readFinalStage(readFileSync(path, 'utf8'));
    const entrypoint = stage.filter((entry) => entry.instruction === 'ENTRYPOINT').at(-1);
    const cmd = stage.filter((entry) => entry.instruction === 'CMD').at(-1);
    const command = [...(entrypoint ? readWords(entrypoint.args) : []), ...(cmd ? readWords(cmd.args) : [])];
    expect(command.join(' ')).toMatch(/(^|\s|\/)dist\/cli\.js serve$/);

    // The SQLite file must live in the volume, or every `docker compose up --build` loses it.
    const env = stage
      .filter((entry) => entry.instruction === 'ENV')
      .map((entry) => entry.args)
      .join(' ');
    const store = /FEEDPROXY_STORE=(\S+)/.exec(env)?.[1];
    expect(store, 'FEEDPROXY_STORE set in the image').toBeDefined();
    expect(store).toMatch(new RegExp(`^sqlite://${DATA_DIR}/`));
  });

  it('starts the service’s node with the same flags in the image, `npm start` and the benches (a young generation of Node 20’s size)', () => {
    const flagsOf = (words: string[]) =>
      words.slice(words.indexOf('node') + 1, words.indexOf('dist/cli.js')).filter((word) => word.startsWith('--'));
    const stage = readFinalStage(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
    const image = flagsOf(readWords(stage.filter((entry) => entry.instruction === 'CMD').at(-1)!.args));
    const start = flagsOf(
      (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.split(/\s+/),
    );
    expect(image).toContain('--max-semi-space-size=16');
    expect(start).toEqual(image);
    expect(SERVICE_NODE_FLAGS).toEqual(image);
  });
});
