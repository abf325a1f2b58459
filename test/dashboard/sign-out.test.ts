// Issue 18, finding 6: signing out of the dashboard ends the session on the server. The cookie holds
// the sealed API key for 7 days; before, signing out only asked the browser to drop it, and a copy
// of it (another tab, a stolen cookie) kept working. Two instances share one Redis prefix: the copy
// stops working on both.
import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { FORM, signIn } from '../helpers/dashboard.js';
import { deleteRedisKeys, randomSecretKey, REDIS_SKIP_REASON, redisAvailable, uniqueRedisPrefix } from '../helpers/stores.js';

async function signOut(t: TestApp, cookie: string) {
  const page = await t.app.inject({ method: 'GET', url: '/dashboard/sources', headers: { cookie } });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
  return t.app.inject({
    method: 'POST',
    url: '/dashboard/sign-out',
    headers: { ...FORM, cookie },
    payload: new URLSearchParams({ _csrf: csrf }).toString(),
  });
}

const sources = (t: TestApp, cookie: string) => t.app.inject({ method: 'GET', url: '/dashboard/sources', headers: { cookie } });

describe('dashboard sign-out', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    for (const t of apps.splice(0)) await t.close();
  });

  it('revokes the session: a copy of the cookie is refused afterwards, another sign-in still works', async () => {
    const t = await startTestApp();
    apps.push(t);
    const apiKey = await t.createUserKey();
    const cookie = await signIn(t, apiKey);
    const other = await signIn(t, apiKey);
    expect((await sources(t, cookie)).statusCode).toBe(200);

    const out = await signOut(t, cookie);
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/dashboard/sign-in?out');
    // The browser was told to drop it; a copy kept elsewhere is what this is about.
    const copied = await sources(t, cookie);
    expect(copied.statusCode).toBe(303);
    expect(copied.headers.location).toBe('/dashboard/sign-in');
    // Only that session ended: the same user's other session goes on.
    expect((await sources(t, other)).statusCode).toBe(200);
    expect((await sources(t, await signIn(t, apiKey))).statusCode).toBe(200);
  });

  it.skipIf(!redisAvailable)(
    `ends the session on every instance sharing the store${REDIS_SKIP_REASON ? ` (${REDIS_SKIP_REASON})` : ''}`,
    async () => {
      const prefix = uniqueRedisPrefix();
      const env = {
        FEEDPROXY_STORE_PREFIX: prefix,
        FEEDPROXY_SECRET_KEY: randomSecretKey(),
        FEEDPROXY_PUBLIC_URL: 'https://feeds.example',
      };
      try {
        const a = await startTestApp({ store: 'redis', env });
        apps.push(a);
        const b = await startTestApp({ store: 'redis', env });
        apps.push(b);
        const cookie = await signIn(a, await a.createUserKey());
        expect(cookie.startsWith('__Host-fp_dashboard=')).toBe(true);
        // The copy works on B before the sign-out…
        expect((await sources(b, cookie)).statusCode).toBe(200);
        expect((await signOut(a, cookie)).statusCode).toBe(303);
        // …and on neither instance after it.
        expect((await sources(a, cookie)).statusCode).toBe(303);
        expect((await sources(b, cookie)).statusCode).toBe(303);
      } finally {
        for (const t of apps.splice(0)) await t.close();
        await deleteRedisKeys(prefix);
      }
    },
  );
});
