// Issue 17: on Redis, the API rate limit and the wrong-key budget are one budget for every instance
// sharing the store, not one per process. Two real apps on one Redis prefix stand for two instances.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { deleteRedisKeys, randomSecretKey, redisAvailable, uniqueRedisPrefix } from '../helpers/stores.js';

describe.runIf(redisAvailable)('limits shared between instances on Redis', () => {
  const prefix = uniqueRedisPrefix();
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    const env = {
      FEEDPROXY_STORE_PREFIX: prefix,
      FEEDPROXY_SECRET_KEY: randomSecretKey(),
      FEEDPROXY_API_RATE_LIMIT: '5',
      FEEDPROXY_WRONG_KEY_RATE_LIMIT: '3',
    };
    a = await startTestApp({ store: 'redis', env });
    b = await startTestApp({ store: 'redis', env });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await deleteRedisKeys(prefix);
  });

  it('counts one API key across both instances', async () => {
    const key = await a.createUserKey('shared');
    const codes: number[] = [];
    for (let round = 0; round < 3; round += 1) {
      for (const app of [a, b]) codes.push((await app.api(key, { method: 'GET', url: '/api/v1/me' })).statusCode);
    }
    // Five allowed in all, each instance having seen three: per-process limits would allow all six.
    expect(codes).toEqual([200, 200, 200, 200, 200, 429]);
  });

  it('counts wrong keys from one address across both instances', async () => {
    const codes: number[] = [];
    for (let round = 0; round < 2; round += 1) {
      for (const app of [a, b])
        codes.push((await app.api(`fp_wrong-${round}-${codes.length}`, { method: 'GET', url: '/api/v1/me' })).statusCode);
    }
    expect(codes).toEqual([401, 401, 401, 429]);
    const blocked = await b.api('fp_wrong-again', { method: 'GET', url: '/api/v1/me' });
    expect(blocked.headers['retry-after']).toMatch(/^\d+$/);
  });
});
