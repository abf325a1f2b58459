// Issue 18, finding 6: signing out of the dashboard ends the session on the server. The cookie holds
// the sealed API key for 7 days; before, signing out only asked the browser to drop it, and a copy
// of it (another tab, a stolen cookie) kept working. Two instances share one Redis prefix: the copy
// stops working on both.
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_SIGNED_OUT } from '../../src/store/sessions.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { FORM, signIn } from '../helpers/dashboard.js';
import { storedItemCount } from '../helpers/store-size.js';
import { deleteRedisKeys, randomSecretKey, REDIS_SKIP_REASON, redisAvailable, STORES, uniqueRedisPrefix } from '../helpers/stores.js';

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

  // Session 21's review: each sign-out left a record of its own (≈ 119 B) that only expiry bounded —
  // on SQLite never, as keyv deletes an expired row only when it is read — so one API key signing in
  // and out at the API's rate could leave ≈ 0.5 M rows a day. Now one record per key, bounded.
  it.each(STORES)('keeps one bounded record per API key however many sign-outs it makes (%s)', async (store) => {
    const t = await startTestApp({ store });
    apps.push(t);
    const apiKey = await t.createUserKey();
    const signedOut: string[] = [];
    const cycle = async () => {
      const cookie = await signIn(t, apiKey);
      expect((await signOut(t, cookie)).statusCode).toBe(303);
      signedOut.push(cookie);
    };
    // More sign-outs than the ids a key keeps, then as many again: the oldest are folded into its cutoff.
    const cycles = 40;
    for (let i = 0; i < cycles; i++) await cycle();
    const before = await storedItemCount(t);
    for (let i = 0; i < cycles; i++) await cycle();
    expect((await storedItemCount(t)) - before).toBeLessThanOrEqual(1);
    expect(cycles).toBeGreaterThan(MAX_SIGNED_OUT);
    // Every one of them is refused still, the folded ones too; a session begun since goes on.
    for (const cookie of signedOut) expect((await sources(t, cookie)).statusCode).toBe(303);
    expect((await sources(t, await signIn(t, apiKey))).statusCode).toBe(200);
  });

  it('still refuses a session that a release before the bounded record signed out', async () => {
    const t = await startTestApp();
    apps.push(t);
    const cookie = await signIn(t, await t.createUserKey());
    const { s: id } = JSON.parse(t.deps.vault.open(cookie.slice(cookie.indexOf('=') + 1))) as { s: string };
    // As session 20's sign-out wrote it: a record of its own, expiring with the session.
    await t.kv.set(`dashboard:revoked:${id}`, { revokedAt: new Date().toISOString() }, 60_000);
    expect((await sources(t, cookie)).statusCode).toBe(303);
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
