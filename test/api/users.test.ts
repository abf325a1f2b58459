// POST /api/v1/users with the admin token; API keys are shown once and stored only as hashes.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, buildTestApp, startTestApp, type TestApp } from '../helpers/app.js';
import { STORES } from '../helpers/stores.js';

describe.each(STORES)('users API (%s store)', (store) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ store });
  });
  afterAll(async () => t?.close());

  it('creates a user with the admin token and the key works once shown', async () => {
    const created = await t.api(ADMIN_TOKEN, { method: 'POST', url: '/api/v1/users', payload: { name: 'carol' } });
    expect(created.statusCode).toBe(201);
    const { id, name, apiKey } = created.json();
    expect(name).toBe('carol');
    expect(id).toEqual(expect.any(String));
    expect(apiKey).toMatch(/^fp_[A-Za-z0-9_-]{43}$/);
    expect((await t.api(apiKey, { method: 'GET', url: '/api/v1/sources' })).statusCode).toBe(200);

    // Only a hash of the key is stored: its bytes appear nowhere in the store files.
    await t.deps.registry.ping();
    for (const file of readdirSync(t.dir).filter((f) => f.startsWith('feedproxy.sqlite'))) {
      expect(readFileSync(join(t.dir, file)).includes(Buffer.from(apiKey)), file).toBe(false);
    }
  });

  it.each([
    ['no token', undefined],
    ['a wrong token', 'wrong-admin-token-000000'],
    ['a user key instead of the admin token', 'user'],
  ])('refuses %s with 401', async (_name, token) => {
    const bearer = token === 'user' ? await t.createUserKey('dave') : token;
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { name: 'mallory' },
      headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
    });
    expect(response.statusCode).toBe(401);
    expect(response.json().error).toBe('FP_UNAUTHORIZED');
  });

  it('refuses an empty name with 400', async () => {
    const response = await t.api(ADMIN_TOKEN, { method: 'POST', url: '/api/v1/users', payload: { name: '' } });
    expect(response.statusCode).toBe(400);
  });

  it('disables the user API when no admin token is configured', async (context) => {
    const bare = await buildTestApp(context, { store, env: { FEEDPROXY_ADMIN_TOKEN: '' } });
    const response = await bare.api(ADMIN_TOKEN, { method: 'POST', url: '/api/v1/users', payload: { name: 'x' } });
    // Issue 17: said "invalid API key" before; now it says the API is off and what to do instead.
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ error: 'FP_USER_API_DISABLED' });
    expect(response.json().message).toMatch(/FEEDPROXY_ADMIN_TOKEN is not set.*feedproxy users create NAME/);
  });
});
