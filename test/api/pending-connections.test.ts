// Session 21's review, finding 6: every POST /api/v1/connections stored a pending connection (its
// record, its request-token index, a set member: ≈ 480 B) for good and called the provider, with no
// bound: 300 posts, 300 × 201 and 300 records. Now a user has at most MAX_PENDING_CONNECTIONS waiting
// for their first authorization (409 past that, saying what to do), and a start removes the user's
// pending connections whose authorization link expired. One start per user at a time, so concurrent
// starts never pass the bound together.
import { describe, expect, it } from 'vitest';
import { MAX_PENDING_CONNECTIONS } from '../../src/services/connections.js';
import { PUBLIC_URL } from '../helpers/app.js';
import { providerApp } from '../helpers/signed-source.js';
import { storedItemCount } from '../helpers/store-size.js';
import { STORES } from '../helpers/stores.js';

const STARTS = 15;

describe.each(STORES)('pending OAuth connections (%s store)', (store) => {
  it('are bounded per user: past the bound a start is a 409 that says what to do, and stores nothing', async (context) => {
    let nowMs = Date.now();
    const { t, provider } = await providerApp(context, { store, overrides: { now: () => new Date(nowMs) } });
    const alice = await t.createUserKey('alice');
    const bob = await t.createUserKey('bob');
    const start = (apiKey: string) => t.api(apiKey, { method: 'POST', url: '/api/v1/connections', payload: { provider: 'netflix' } });

    const answers: number[] = [];
    let afterFirst = 0;
    for (let i = 0; i < STARTS; i++) {
      answers.push((await start(alice)).statusCode);
      if (i === 0) afterFirst = await storedItemCount(t);
    }
    const stored = await storedItemCount(t);
    const refused = await start(alice);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().message).toMatch(/waiting for authorization.*authorize.*remove one/);
    expect(answers).toEqual([
      ...Array<number>(MAX_PENDING_CONNECTIONS).fill(201),
      ...Array<number>(STARTS - MAX_PENDING_CONNECTIONS).fill(409),
    ]);
    // Each start kept ≈ 4 items (record, request-token index, set member…): the refused ones none.
    expect(stored).toBeLessThanOrEqual(afterFirst + (MAX_PENDING_CONNECTIONS - 1) * 4);
    // Refused before the provider is asked for a request token.
    expect(provider.stats.byPath['/oauth/request_token']).toBe(MAX_PENDING_CONNECTIONS);
    // Another user's bound is their own.
    expect((await start(bob)).statusCode).toBe(201);

    // Once their links expired (and the grace a callback under way gets), a start removes them.
    nowMs += 2 * 60 * 60_000;
    const again = await start(alice);
    expect(again.statusCode).toBe(201);
    const listed = await t.api(alice, { method: 'GET', url: '/api/v1/connections' });
    expect(listed.json().connections.map((connection: { id: string }) => connection.id)).toEqual([again.json().id]);
    expect(await storedItemCount(t)).toBeLessThan(stored);
    // The new one is authorized as any other: the removals took nothing of it.
    const login = await fetch(again.json().authorizeUrl, { redirect: 'manual' });
    const callback = new URL(login.headers.get('location')!);
    expect(callback.origin + callback.pathname).toBe(`${PUBLIC_URL}/oauth/callback`);
    expect((await t.app.inject({ method: 'GET', url: callback.pathname + callback.search })).statusCode).toBe(200);
  });
  it('are bounded under concurrent starts too: one start per user at a time passes the bound', async (context) => {
    const { t } = await providerApp(context, { store });
    const alice = await t.createUserKey('alice');
    const answers = await Promise.all(
      Array.from({ length: STARTS }, () => t.api(alice, { method: 'POST', url: '/api/v1/connections', payload: { provider: 'netflix' } })),
    );
    expect(answers.filter((answer) => answer.statusCode === 201)).toHaveLength(MAX_PENDING_CONNECTIONS);
    expect(answers.filter((answer) => answer.statusCode === 409)).toHaveLength(STARTS - MAX_PENDING_CONNECTIONS);
    expect((await t.api(alice, { method: 'GET', url: '/api/v1/connections' })).json().connections).toHaveLength(MAX_PENDING_CONNECTIONS);
  });
});
