// Issue 17: errors that say what went wrong with this request and what to do about it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { freePort } from '../helpers/cli.js';

describe('error messages that name the remedy', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t?.close());

  it('tells a missing key, another scheme, an empty key and a wrong key apart, with WWW-Authenticate (RFC 6750 §3)', async () => {
    const cases: Array<[Record<string, string>, RegExp, string]> = [
      [{}, /^Missing API key: send the header "Authorization: Bearer <API key>"$/, 'Bearer realm="feedproxy"'],
      [{ authorization: 'Basic YWxpY2U6c2VjcmV0' }, /must use the Bearer scheme/, 'Bearer realm="feedproxy"'],
      [{ authorization: 'Bearer ' }, /^Empty API key after "Bearer": the variable holding it may be unset/, 'Bearer realm="feedproxy"'],
      [
        { authorization: 'Bearer fp_not-a-real-key' },
        /no user has this key; feedproxy users reset-key NAME/,
        'Bearer realm="feedproxy", error="invalid_token"',
      ],
    ];
    for (const [headers, message, challenge] of cases) {
      const response = await t.app.inject({ method: 'GET', url: '/api/v1/sources', headers });
      expect(response.statusCode, JSON.stringify(headers)).toBe(401);
      expect(response.json().message).toMatch(message);
      expect(response.headers['www-authenticate']).toBe(challenge);
    }
  });

  it('says which content type to send', async () => {
    const key = await t.createUserKey();
    // No Content-Type at all (curl -d without -H): was a bare "Unsupported Media Type".
    const bare = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: Buffer.from('{"url": "http://example.org/feed"}') });
    expect(bare.statusCode).toBe(415);
    expect(bare.json().message).toBe('Unsupported Media Type: send the body with "Content-Type: application/json"');
    const text = await t.api(key, {
      method: 'POST',
      url: '/api/v1/sources',
      headers: { 'content-type': 'text/plain' },
      payload: '{"url": "http://example.org/feed"}',
    });
    expect(text.statusCode).toBe(400);
    expect(text.json().message).toBe('body must be object; send a JSON object with "Content-Type: application/json"');
  });

  it('names the refused host:port and FEEDPROXY_ALLOW_PRIVATE', async () => {
    const key = await t.createUserKey('loop');
    const port = await freePort();
    const response = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: `http://127.0.0.1:${port}/feed` } });
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain(`Refused to connect to 127.0.0.1:${port}:`);
    expect(response.json().message).toContain('FEEDPROXY_ALLOW_PRIVATE');
  });
});

describe('smaller first-hour things', () => {
  it('answers /favicon.ico with 204 rather than a 404 on every page', async () => {
    const t = await startTestApp();
    try {
      const response = await t.app.inject({ method: 'GET', url: '/favicon.ico' });
      expect(response.statusCode).toBe(204);
      const signIn = await t.app.inject({ method: 'GET', url: '/dashboard/sign-in' });
      expect(signIn.body).toContain('<link rel="icon" href="data:,">');
    } finally {
      await t.close();
    }
  });
});
