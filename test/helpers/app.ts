// Builds the real app on a real SQLite file in a temp dir, with logs captured for secret checks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Response as InjectResponse } from 'light-my-request';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createDeps, type Deps, type DepsOverrides } from '../../src/deps.js';
import { createLogger } from '../../src/logger.js';
import { createUser } from '../../src/services/users.js';
import { deleteRedisKeys, randomSecretKey, REDIS_URL, uniqueRedisPrefix, type StoreKind } from './stores.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const PUBLIC_URL = 'http://feeds.test';

export interface TestApp {
  app: FastifyInstance;
  deps: Deps;
  dir: string;
  store: StoreKind;
  /** The Redis key prefix of this app's store (redis only). */
  redisPrefix?: string;
  /** Every log line written so far (JSON text). */
  logs: string[];
  /** A new user's API key. */
  createUserKey(name?: string): Promise<string>;
  /** app.inject with the key as bearer. */
  api(apiKey: string, options: InjectOptions): Promise<InjectResponse>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  /** host:port pairs the fetch guard lets through (the test's upstreams). */
  allowPrivate?: string[];
  overrides?: DepsOverrides;
  /** Reuse a directory (restart tests). */
  dir?: string;
  /** SQLite file in `dir` (default), or the local Redis under a unique prefix removed on close. */
  store?: StoreKind;
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'feedproxy-test-'));
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString('utf8'));
      callback();
    },
  });
  const store = options.store ?? 'sqlite';
  // Redis: a prefix of our own (unless the test shares one between apps) and the key Redis mode requires.
  const ownsPrefix = store === 'redis' && options.env?.FEEDPROXY_STORE_PREFIX === undefined;
  const redisEnv: Record<string, string> =
    store === 'redis' ? { FEEDPROXY_STORE: REDIS_URL, FEEDPROXY_STORE_PREFIX: uniqueRedisPrefix(), FEEDPROXY_SECRET_KEY: randomSecretKey() } : {};
  const config = loadConfig({
    FEEDPROXY_STORE: `sqlite://${join(dir, 'feedproxy.sqlite')}`,
    FEEDPROXY_PUBLIC_URL: PUBLIC_URL,
    FEEDPROXY_ADMIN_TOKEN: ADMIN_TOKEN,
    FEEDPROXY_ALLOW_PRIVATE: (options.allowPrivate ?? []).join(','),
    FEEDPROXY_CONFIG: '', // no config file: the test's env is the whole configuration
    LOG_LEVEL: 'trace', // every line a secret could ever reach is captured and searched
    ...redisEnv,
    ...options.env,
  });
  const deps = await createDeps(config, { logger: createLogger('trace', stream), ...options.overrides });
  const app = await buildApp(deps);
  await app.ready();
  return {
    app,
    deps,
    dir,
    store,
    ...(store === 'redis' ? { redisPrefix: config.storePrefix } : {}),
    logs,
    async createUserKey(name = 'alice') {
      return (await createUser(deps, name)).apiKey;
    },
    api(apiKey, injectOptions) {
      return app.inject({ ...injectOptions, headers: { authorization: `Bearer ${apiKey}`, ...injectOptions.headers } });
    },
    async close() {
      await app.close();
      await deps.close();
      if (ownsPrefix) await deleteRedisKeys(config.storePrefix);
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
