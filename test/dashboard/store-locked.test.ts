// The SQLite file's write lock held by another connection past the busy timeout, as the API's
// test/api/store-locked.test.ts, seen from the dashboard: a page that writes to the store itself (signing
// out revokes the session) answers 503 with Retry-After and a page saying to try again, logged at warn,
// not a 500 "Something went wrong" logged at error; once the lock is released the same post works.
import { describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { FORM, signIn } from '../helpers/dashboard.js';
import { openSecondConnection } from '../helpers/second-connection.js';

async function csrfOf(t: TestApp, cookie: string): Promise<string> {
  const page = await t.app.inject({ method: 'GET', url: '/dashboard/sources', headers: { cookie } });
  return /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
}

type LogLine = { level: number; msg: string; err?: { message?: string } };

describe('the dashboard on a SQLite file locked by another connection', () => {
  it('answers a post that writes with 503, Retry-After and a try-again page, logged at warn; after the lock the post works', async (context) => {
    // A short busy timeout (10 s in service) keeps the wait short; the lock is held well past it.
    const t = await buildTestApp(context, { busyTimeoutMs: 200 });
    const cookie = await signIn(t, await t.createUserKey());
    const csrf = await csrfOf(t, cookie);
    const signOut = () =>
      t.app.inject({
        method: 'POST',
        url: '/dashboard/sign-out',
        headers: { ...FORM, cookie },
        payload: new URLSearchParams({ _csrf: csrf }).toString(),
      });
    const other = openSecondConnection(t);
    try {
      await other.exec('BEGIN IMMEDIATE'); // the write lock, held until ROLLBACK
      const locked = await signOut();
      expect(locked.statusCode).toBe(503);
      expect(locked.headers['retry-after']).toBe('5'); // the API's seconds
      expect(locked.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(locked.body).toContain('<title>Store unavailable — feedproxy</title>');
      expect(locked.body).toContain('The store is busy or unavailable. Try again in a few seconds.');
      expect(locked.body).not.toContain('Something went wrong');
      // The session was not revoked, and the cookie was not cleared: the page still works with it.
      expect(locked.headers['set-cookie']).toBeUndefined();
      expect((await t.app.inject({ method: 'GET', url: '/dashboard/sources', headers: { cookie } })).statusCode).toBe(200);
      await other.exec('ROLLBACK');
      const out = await signOut();
      expect(out.statusCode).toBe(303);
      expect(out.headers.location).toBe('/dashboard/sign-in?out');
      expect((await t.app.inject({ method: 'GET', url: '/dashboard/sources', headers: { cookie } })).headers.location).toBe(
        '/dashboard/sign-in',
      );
    } finally {
      await other.close();
    }
    const lines = t.logs.map((line) => JSON.parse(line) as LogLine);
    expect(lines.filter((line) => line.msg === 'store unavailable').map((line) => [line.level, line.err?.message])).toEqual([
      [40, expect.stringMatching(/^SQLITE_BUSY/)],
    ]);
    expect(lines.filter((line) => line.level >= 50)).toEqual([]);
  });

  it('still answers any other failed statement with the 500 page, logged at error (positive control)', async (context) => {
    const t = await buildTestApp(context, { busyTimeoutMs: 200 });
    const cookie = await signIn(t, await t.createUserKey());
    const csrf = await csrfOf(t, cookie);
    const other = openSecondConnection(t);
    try {
      // SQLITE_CONSTRAINT on every write of a field (sign-outs are kept as fields: store/sessions.ts):
      // the database refuses the revocation, and is not busy.
      await other.exec(`CREATE TRIGGER test_refuse BEFORE INSERT ON fp_fields BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
      const refused = await t.app.inject({
        method: 'POST',
        url: '/dashboard/sign-out',
        headers: { ...FORM, cookie },
        payload: new URLSearchParams({ _csrf: csrf }).toString(),
      });
      expect(refused.statusCode).toBe(500);
      expect(refused.headers['retry-after']).toBeUndefined();
      expect(refused.body).toContain('<title>Something went wrong — feedproxy</title>');
    } finally {
      await other.exec('DROP TRIGGER IF EXISTS test_refuse');
      await other.close();
    }
    const lines = t.logs.map((line) => JSON.parse(line) as LogLine);
    expect(lines.filter((line) => line.msg === 'dashboard page failed').map((line) => [line.level, line.err?.message])).toEqual([
      [50, expect.stringMatching(/^SQLITE_CONSTRAINT: refused by the test/)],
    ]);
    expect(lines.filter((line) => line.msg === 'store unavailable')).toEqual([]);
  });
});
