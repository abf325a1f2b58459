// Builds the real app on a real SQLite file in a temp dir, with logs captured for secret checks.
// In a test, `buildTestApp(context)` is the app that closes itself when the test ends (fastify/demo's
// build(t)); a suite's app is started in beforeAll and closed in afterAll.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Response as InjectResponse } from 'light-my-request';
import type { TestContext } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createDeps, openStore, type Deps, type DepsOverrides } from '../../src/deps.js';
import { createLogger } from '../../src/logger.js';
import { createUser } from '../../src/services/users.js';
import type { KeyValueStore } from '../../src/store/kv.js';
import { deleteRedisKeys, randomSecretKey, readRedisKeys, REDIS_URL, uniqueRedisPrefix, type StoreKind } from './stores.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const PUBLIC_URL = 'http://feeds.test';

export interface TestApp {
  app: FastifyInstance;
  deps: Deps;
  dir: string;
  store: StoreKind;
  /** The store under the app's repositories, for a test that checks what lies at a key (the app never hands it out). */
  kv: KeyValueStore;
  /** The Redis key prefix of this app's store (redis only). */
  redisPrefix?: string;
  /** Every log line written so far (JSON text). */
  logs: string[];
  /** A new user's API key. */
  createUserKey(name?: string): Promise<string>;
  /**
   * What the store holds as someone with the disk (or the Redis server) reads it: the bytes of the
   * SQLite file and its WAL, or every key and value of this app's prefix.
   */
  readStore(): Promise<Buffer>;
  /** app.inject with the key as bearer. */
  api(apiKey: string, options: InjectOptions): Promise<InjectResponse>;
  /** Closes the app and the store (and removes what the app made); a second call waits for the first. */
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
  /** SQLite: how long a statement waits for another connection's write lock (10 s otherwise). */
  busyTimeoutMs?: number;
}

/**
 * A test app that closes itself when the test finishes, passed or failed, as fastify/demo's build(t):
 * `it('…', async (context) => { const t = await buildTestApp(context, options); … })`. Closing it
 * earlier (a restart on the same `dir`) is fine: close runs once.
 */
export async function buildTestApp(context: Pick<TestContext, 'onTestFinished'>, options: TestAppOptions = {}): Promise<TestApp> {
  const t = await startTestApp(options);
  context.onTestFinished(() => t.close());
  return t;
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
    store === 'redis'
      ? { FEEDPROXY_STORE: REDIS_URL, FEEDPROXY_STORE_PREFIX: uniqueRedisPrefix(), FEEDPROXY_SECRET_KEY: randomSecretKey() }
      : {};
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
  const kv = await openStore(config, { busyTimeoutMs: options.busyTimeoutMs });
  const deps = await createDeps(config, { logger: createLogger('trace', stream), kv, ...options.overrides });
  const app = await buildApp(deps);
  await app.ready();
  let closing: Promise<void> | undefined;
  return {
    app,
    deps,
    dir,
    store,
    kv,
    ...(store === 'redis' ? { redisPrefix: config.storePrefix } : {}),
    logs,
    async createUserKey(name = 'alice') {
      return (await createUser(deps, name)).apiKey;
    },
    async readStore() {
      if (store === 'redis') {
        const values = await readRedisKeys(config.storePrefix);
        return Buffer.from([...values].map(([key, value]) => `${key} ${value}`).join('\n'));
      }
      const files = readdirSync(dir).filter((name) => name.startsWith('feedproxy.sqlite'));
      return Buffer.concat(files.map((name) => readFileSync(join(dir, name))));
    },
    api(apiKey, injectOptions) {
      return app.inject({ ...injectOptions, headers: { authorization: `Bearer ${apiKey}`, ...injectOptions.headers } });
    },
    close() {
      closing ??= (async () => {
        await app.close();
        await deps.close();
        if (ownsPrefix) await deleteRedisKeys(config.storePrefix);
        if (!options.dir) rmSync(dir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

/** Two listening instances of the app on one store (the same SQLite file, or one Redis prefix and key). */
export interface InstancePair {
  one: TestApp;
  two: TestApp;
  /** `http://127.0.0.1:<port>` of each, in order. */
  bases: [string, string];
  close(): Promise<void>;
}

export async function startInstancePair(
  store: StoreKind,
  options: { allowPrivate: string[]; env?: Record<string, string> },
): Promise<InstancePair> {
  const redisPrefix = uniqueRedisPrefix();
  const env = {
    ...options.env,
    ...(store === 'redis' ? { FEEDPROXY_STORE_PREFIX: redisPrefix, FEEDPROXY_SECRET_KEY: randomSecretKey() } : {}),
  };
  const one = await startTestApp({ store, allowPrivate: options.allowPrivate, env });
  const two = await startTestApp({ store, allowPrivate: options.allowPrivate, env, dir: one.dir });
  const bases: string[] = [];
  for (const t of [one, two]) {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    bases.push(`http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`);
  }
  return {
    one,
    two,
    bases: bases as [string, string],
    async close() {
      await two.close();
      await one.close();
      if (store === 'redis') await deleteRedisKeys(redisPrefix);
    },
  };
}
