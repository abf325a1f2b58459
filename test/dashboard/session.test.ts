// The dashboard's session cookie and headers, without a browser: Secure behind https, the key only
// sealed, a tampered cookie refused, and a strict CSP on the dashboard that leaves the API's alone.
import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { FORM, postSignIn } from '../helpers/dashboard.js';
import { field, fields, MAX_FORM_FIELDS, parseForm } from '../../src/routes/dashboard/form.js';

async function signIn(t: TestApp, apiKey: string) {
  const signedIn = await postSignIn(t, apiKey);
  return { signedIn, setCookie: String(signedIn.headers['set-cookie']) };
}

describe('dashboard session', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('seals the API key into an HttpOnly, SameSite=Strict cookie, Secure and __Host- prefixed when the public URL is https', async () => {
    t = await startTestApp({ env: { FEEDPROXY_PUBLIC_URL: 'https://feeds.example' } });
    const apiKey = await t.createUserKey();
    const { signedIn, setCookie } = await signIn(t, apiKey);
    expect(signedIn.statusCode).toBe(303);
    // __Host-: the browser keeps it only Secure, Path=/ and without Domain (RFC 6265bis §4.1.3.2).
    expect(setCookie).toMatch(/^__Host-fp_dashboard=v1\.[^;]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict; Secure$/);
    expect(setCookie).not.toContain(apiKey);
    expect(setCookie).not.toContain(apiKey.slice(3));
    const value = setCookie.split(';')[0]!.slice('__Host-fp_dashboard='.length);
    expect(JSON.parse(t.deps.vault.open(value))).toMatchObject({ k: apiKey });
    // The prefixed cookie is the one read; the same value under the old name is not.
    const cookie = setCookie.split(';')[0]!;
    expect((await t.app.inject({ method: 'GET', url: '/dashboard/sources', headers: { cookie } })).statusCode).toBe(200);
    expect(
      (await t.app.inject({ method: 'GET', url: '/dashboard/sources', headers: { cookie: `fp_dashboard=${value}` } })).statusCode,
    ).toBe(303);
    // Signing out clears the prefixed cookie with the attributes it was set with.
    const form = await t.app.inject({ method: 'GET', url: '/dashboard/sources', headers: { cookie } });
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1] ?? '';
    const out = await t.app.inject({
      method: 'POST',
      url: '/dashboard/sign-out',
      headers: { ...FORM, cookie },
      payload: new URLSearchParams({ _csrf: csrf }).toString(),
    });
    expect(out.statusCode).toBe(303);
    expect(String(out.headers['set-cookie'])).toBe('__Host-fp_dashboard=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure');
  });

  it('has no Secure flag on plain http, refuses a tampered cookie and a wrong key', async () => {
    t = await startTestApp();
    const apiKey = await t.createUserKey();
    const { setCookie } = await signIn(t, apiKey);
    expect(setCookie).not.toContain('Secure');
    const cookie = setCookie.split(';')[0]!;
    expect((await t.app.inject({ method: 'GET', url: '/dashboard/sources', headers: { cookie } })).statusCode).toBe(200);
    const tampered = `${cookie.slice(0, -2)}${cookie.endsWith('A') ? 'BB' : 'AA'}`;
    const refused = await t.app.inject({ method: 'GET', url: '/dashboard/sources', headers: { cookie: tampered } });
    expect(refused.statusCode).toBe(303);
    expect(refused.headers.location).toBe('/dashboard/sign-in');

    const { signedIn: wrong } = await signIn(t, 'fp_wrong');
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toContain('Missing or invalid API key');
  });

  it('ends a session whose key no longer signs in: back to the sign-in form, not a redirect loop', async () => {
    t = await startTestApp();
    const sealed = t.deps.vault.seal(JSON.stringify({ k: 'fp_no-such-key', c: 'token', s: 'session-id', t: Date.now() }));
    const ended = await t.app.inject({ method: 'GET', url: '/dashboard/sources', headers: { cookie: `fp_dashboard=${sealed}` } });
    expect(ended.statusCode).toBe(303);
    expect(ended.headers.location).toBe('/dashboard/sign-in?ended=1');
    const fresh = String(ended.headers['set-cookie']).split(';')[0]!;
    const form = await t.app.inject({ method: 'GET', url: '/dashboard/sign-in?ended=1', headers: { cookie: fresh } });
    expect(form.statusCode).toBe(200);
    expect(form.body).toContain('Your session ended');
  });

  it('sends a strict CSP on dashboard pages and leaves the API and docs headers as they were', async () => {
    t = await startTestApp();
    const page = await t.app.inject({ method: 'GET', url: '/dashboard/sign-in' });
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("style-src 'self';");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers['cache-control']).toBe('no-store');
    const api = await t.app.inject({ method: 'GET', url: '/api/v1/sources' });
    expect(String(api.headers['content-security-policy'])).not.toBe(csp);
    expect(String(api.headers['content-security-policy'])).toContain("style-src 'self' https: 'unsafe-inline'");
  });

  // No time is asserted: the parse copied the values read so far at every repeat, so a 300 KB body
  // held the event loop for half a minute, past the test's timeout (a 1 MiB one, minutes).
  it('reads a form body of one name repeated, posted without a session, once, and refuses it without its CSRF token', async () => {
    t = await startTestApp();
    const body = 'a=&'.repeat(MAX_FORM_FIELDS - 1);
    const refused = await t.app.inject({ method: 'POST', url: '/dashboard/sign-in', headers: FORM, payload: body });
    expect(refused.statusCode).toBe(403);
    expect(refused.body).toContain('Form expired');
  });

  // Linear, but anyone may post to the sign-in form: 1 MiB of `a=&` (350,000 fields) still cost 0.37 s.
  it('refuses a form of more fields than any of its forms holds, before parsing it', async () => {
    t = await startTestApp();
    const refused = await t.app.inject({ method: 'POST', url: '/dashboard/sign-in', headers: FORM, payload: 'a=&'.repeat(100_000) });
    // No browser sends that from these pages: the dashboard's page for a bad request is enough.
    expect(refused.statusCode).toBe(400);
    expect(refused.body).not.toContain('Form expired');
  });
});

describe('form fields named like properties of every object', () => {
  it('are fields like any other: `__proto__` repeated is its two values, and an absent `constructor` is empty', () => {
    const body = parseForm('__proto__=a&__proto__=b&toString=c');
    expect(fields(body, '__proto__')).toEqual(['a', 'b']);
    expect(field(body, 'toString')).toBe('c');
    expect(field(body, 'constructor')).toBe('');
  });
});
