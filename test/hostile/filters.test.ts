// Issue 7, filters: ReDoS patterns written by users run through the API against long hostile
// entries and finish (RE2 semantics, linear time); rule lists over their limits are a coded 400.
// The engine-level cases are in test/pipeline/filter.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL } from '../helpers/app.js';
import { serveBody, startUpstream, type Upstream } from '../helpers/upstream.js';
import { expectSafeErrorBody, startHostileApp, type HostileApp } from './harness.js';

const LONG = `${'a'.repeat(50_000)}!`;
const REDOS_RULES = [
  '/(a+)+$/',
  '/(a|aa)+$/',
  '/(a|a?)+b/',
  '/(.*a){20}x/',
  '/^(([a-z])+.)+[A-Z]([a-z])+$/',
  '/(\\w+\\s?)*$/',
  '/^(a+)+b/i',
];

describe('filters through the API', () => {
  let upstream: Upstream;
  let t: HostileApp;
  let key: string;
  let sourceId = '';

  beforeAll(async () => {
    const items = Array.from(
      { length: 20 },
      (_, index) => `<item><guid>${index}</guid><title>${LONG}</title><description>${LONG}</description></item>`,
    ).join('');
    upstream = await startUpstream({
      '/feed': serveBody(`<rss version="2.0"><channel><title>long</title>${items}</channel></rss>`, { contentType: 'application/rss+xml' }),
    });
    t = await startHostileApp({}, { allowPrivate: [upstream.hostPort] });
    key = await t.createUserKey();
    sourceId = (await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } })).json().id as string;
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  it('creates, publishes and refreshes a feed of catastrophic-backtracking rules over 50k-character entries', async () => {
    const feed = await t.api(key, {
      method: 'POST',
      url: '/api/v1/feeds',
      payload: { title: 'ReDoS', sources: [sourceId], include: REDOS_RULES, exclude: REDOS_RULES.slice(0, 3) },
    });
    expect(feed.statusCode).toBe(201);
    const published = await t.app.inject({ method: 'GET', url: (feed.json().urls.json as string).slice(PUBLIC_URL.length) });
    expect(published.statusCode).toBe(200);
    const refreshed = await t.api(key, { method: 'POST', url: `/api/v1/sources/${sourceId}/refresh` });
    expect(refreshed.json().status).toBe('ok');
  });

  it.each([
    ['51 include rules', { include: Array.from({ length: 51 }, (_, index) => `k${index}`) }],
    ['51 exclude rules', { exclude: Array.from({ length: 51 }, (_, index) => `k${index}`) }],
    ['a 257-character rule', { include: ['x'.repeat(257)] }],
    ['an empty rule', { include: ['   '] }],
    ['a regex too large once compiled', { include: ['/(a{100}){100}/'] }],
    ['nested counted repetition', { exclude: ['/((a{50}){50}){50}/'] }],
    ['a syntax error', { include: ['/(unclosed/'] }],
    ['a backreference (not in RE2)', { include: ['/(a)\\1/'] }],
    ['a lookbehind (not in RE2)', { include: ['/(?<=a)b/'] }],
    // (Scalars are coerced — ajv coerceTypes 'array' — so 42 would be the keyword "42"; objects are not.)
    ['a non-string rule', { include: [{ $regex: '.*' }] }],
    ['a rule list that is an object', { include: { 0: 'word' } }],
  ])('refuses %s with a coded 400 that does not echo the rule', async (_name, rules) => {
    const response = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'bad', sources: [sourceId], ...rules } });
    expect(response.statusCode).toBe(400);
    const { error, message } = expectSafeErrorBody(response.body);
    expect(error).toBe('FP_BAD_REQUEST');
    expect(message).not.toContain('x'.repeat(100));
    expect(message.length).toBeLessThan(300);
  });
});
