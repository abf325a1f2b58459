// docker-compose.scale.yml: Redis with persistence, two feedproxy replicas on it with the secret key
// from a secret, nginx (official image) in front with deploy/nginx.conf, health checks on all. No
// Docker engine runs here: docker-compose validates the file, and the same topology runs without
// Docker in processes.test.ts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { findOnPath, isolatedEnv, run } from '../interop/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const COMPOSE_FILE = join(ROOT, 'docker-compose.scale.yml');
const dockerCompose = findOnPath('docker-compose');

interface Service {
  build?: string | { context?: string; dockerfile?: string };
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string>;
  secrets?: Array<string | { source: string }>;
  volumes?: string[];
  healthcheck?: { test?: string[] | string };
  depends_on?: Record<string, { condition?: string }>;
}

function readCompose(): { services: Record<string, Service>; secrets?: Record<string, unknown>; volumes?: Record<string, unknown> } {
  return parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as never;
}

describe('scaled-out deployment files', () => {
  it.skipIf(!dockerCompose)('docker-compose validates docker-compose.scale.yml (needs docker-compose)', async () => {
    const home = mkdtempSync(join(tmpdir(), 'feedproxy-compose-'));
    try {
      const keyFile = join(home, 'secret.key');
      writeFileSync(keyFile, `${'ab'.repeat(32)}\n`);
      const env = { ...isolatedEnv(home), FEEDPROXY_SECRET_KEY_FILE: keyFile };
      const result = await run(dockerCompose!, ['-f', COMPOSE_FILE, 'config', '-q'], { cwd: ROOT, env, timeoutMs: 60_000 });
      expect(result.code, result.stderr).toBe(0);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('runs Redis with an append-only file on a volume', () => {
    const { services, volumes } = readCompose();
    const redis = services.redis!;
    expect(redis.image).toMatch(/^redis:/);
    expect([redis.command ?? []].flat().join(' ')).toMatch(/--appendonly yes/);
    const data = (redis.volumes ?? []).find((volume) => volume.endsWith(':/data'));
    expect(data).toBeDefined();
    expect(Object.keys(volumes ?? {})).toContain(data!.split(':')[0]);
    expect(redis.healthcheck?.test).toBeDefined();
  });

  it('runs two feedproxy replicas from the Dockerfile on that Redis, the key from a secret', () => {
    const { services, secrets } = readCompose();
    const replicas = Object.entries(services).filter(([, service]) => service.build !== undefined);
    expect(replicas.map(([name]) => name)).toEqual(['feedproxy-a', 'feedproxy-b']);
    for (const [, service] of replicas) {
      expect(service.environment?.FEEDPROXY_STORE).toBe('redis://redis:6379');
      expect(service.environment?.HOST).toBe('0.0.0.0');
      const secretPath = service.environment?.FEEDPROXY_SECRET_KEY_FILE;
      expect(secretPath).toMatch(/^\/run\/secrets\//);
      const secretName = secretPath!.split('/').at(-1)!;
      expect((service.secrets ?? []).map((secret) => (typeof secret === 'string' ? secret : secret.source))).toContain(secretName);
      expect(Object.keys(secrets ?? {})).toContain(secretName);
      expect(service.environment?.FEEDPROXY_SECRET_KEY, 'never the key itself in the environment').toBeUndefined();
      expect(service.depends_on?.redis?.condition).toBe('service_healthy');
      expect([service.healthcheck?.test ?? []].flat().join(' ')).toContain('/readyz');
    }
  });

  it('puts nginx (official image) in front of both, with deploy/nginx.conf', () => {
    const { services } = readCompose();
    const nginx = services.nginx!;
    expect(nginx.image).toMatch(/^nginx:/);
    expect(nginx.volumes).toContain('./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro');
    expect(Object.keys(nginx.depends_on ?? {}).sort()).toEqual(['feedproxy-a', 'feedproxy-b']);
    expect(nginx.healthcheck?.test).toBeDefined();

    const conf = readFileSync(join(ROOT, 'deploy/nginx.conf'), 'utf8');
    const upstreamServers = [...conf.matchAll(/^\s*server\s+([\w.-]+:\d+)/gm)].map((match) => match[1]);
    expect(upstreamServers).toEqual(['feedproxy-a:8080', 'feedproxy-b:8080']);
    expect(conf).toMatch(/proxy_pass http:\/\/feedproxy;/);
    // A POST is never replayed on the other instance (a source created twice).
    expect(conf).not.toMatch(/non_idempotent/);
  });
});
