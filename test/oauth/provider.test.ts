import { describe, expect, it } from 'vitest';
import { createProviderConfig, fillPlaceholders, placeholderValues } from '../../src/oauth/provider.js';

const settings = {
  requestTokenUrl: 'http://api.example/oauth/request_token',
  authorizeUrl: 'http://api.example/oauth/login',
  accessTokenUrl: 'http://api.example/oauth/access_token',
  consumerKey: 'k5mds',
  consumerSecret: 'srKN',
  authorizeParams: { oauth_consumer_key: '{consumerKey}', application_name: '{application_name}' },
  feedsUrl: 'http://api.example/users/{user_id}/feeds',
};

describe('fillPlaceholders', () => {
  it.each([
    ['http://api.example/users/{user_id}/feeds', { user_id: 'T1abc' }, 'url', 'http://api.example/users/T1abc/feeds'],
    ['http://api.example/users/{user_id}/feeds', { user_id: 'a b/c?' }, 'url', 'http://api.example/users/a%20b%2Fc%3F/feeds'],
    ['{consumerKey}', { consumerKey: 'k&1' }, 'text', 'k&1'],
    ['{a}-{b}-{a}', { a: '1', b: '2' }, 'url', '1-2-1'],
    ['no placeholders', {}, 'url', 'no placeholders'],
  ] as const)('%s', (template, values, mode, expected) => {
    expect(fillPlaceholders(template, values, mode)).toBe(expected);
  });

  it('names an unknown placeholder in a coded error', () => {
    expect(() => fillPlaceholders('http://x/{user_id}/{nope}', { user_id: '1' })).toThrowError(
      expect.objectContaining({ code: 'FP_OAUTH', message: 'OAuth: unknown placeholder {nope}' }),
    );
    // Inherited object keys are not values.
    expect(() => fillPlaceholders('{toString}', {})).toThrow(/\{toString\}/);
  });
});

describe('provider config', () => {
  it('offers the consumer key to templates but never the consumer secret', () => {
    const provider = createProviderConfig('netflix', settings);
    const values = placeholderValues(provider, { application_name: 'App' });
    expect(values).toMatchObject({ consumerKey: 'k5mds', oauth_consumer_key: 'k5mds', application_name: 'App' });
    expect(Object.values(values)).not.toContain('srKN');
    expect(() => fillPlaceholders('{consumerSecret}', values)).toThrow(/unknown placeholder/);
  });

  it('defaults to HMAC-SHA1 and requires a key for RSA-SHA1', () => {
    expect(createProviderConfig('netflix', settings)).toMatchObject({
      id: 'netflix',
      signatureMethod: 'HMAC-SHA1',
      extraParams: {},
      feedsUrl: settings.feedsUrl,
    });
    expect(() => createProviderConfig('rsa', { ...settings, signatureMethod: 'RSA-SHA1' })).toThrow(/rsa uses RSA-SHA1/);
  });
});
