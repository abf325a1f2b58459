// src/vault/oauth1.ts against the published examples (RFC 5849, OAuth Core 1.0 Appendix A) and
// encoding edge cases written out by hand. Tests of the wrapper live here with the rest of the
// OAuth tests.
import { createHmac, createVerify, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildSignatureBaseString, encodeRfc3986, signOAuth1 } from '../../src/vault/oauth1.js';

/** Splits `OAuth a="b", c="d"` into decoded parameters. */
function parseHeader(header: string): Record<string, string> {
  expect(header.startsWith('OAuth ')).toBe(true);
  const params: Record<string, string> = {};
  for (const [, name, value] of header.slice(6).matchAll(/([\w.~-]+)="([^"]*)"/g)) {
    params[name as string] = decodeURIComponent(value as string);
  }
  return params;
}

// RFC 5849 §3.4.1.1 (and §3.1 for the credentials: client secret j49sk3j29djd, token secret
// dh893hdasih9).
const RFC_URL = 'http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b';
const RFC_BODY = { c2: '', a3: '2 q' };
const RFC_OAUTH = {
  oauth_consumer_key: '9djdj82h48djs9d2',
  oauth_token: 'kkk9d7dh3k39sjv7',
  oauth_signature_method: 'HMAC-SHA1',
  oauth_timestamp: '137131201',
  oauth_nonce: '7d8f3e4a',
};
const RFC_BASE_STRING =
  'POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q' +
  '%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_' +
  'key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m' +
  'ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk' +
  '9d7dh3k39sjv7';

// OAuth Core 1.0 Appendix A.5.
const PHOTOS = {
  method: 'GET',
  url: 'http://photos.example.net/photos?file=vacation.jpg&size=original',
  consumer: { key: 'dpf43f3p2l4k3l03', secret: 'kd94hf93k423kf44' },
  token: { key: 'nnch734d00sl2jdk', secret: 'pfkkdhi9sl3r4s00' },
  nonce: 'kllo9940pd9333jh',
  nowSeconds: 1191242096,
};
const photosBaseString = (method: string) =>
  'GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3Ddpf43f3p2l4k3l03' +
  `%26oauth_nonce%3Dkllo9940pd9333jh%26oauth_signature_method%3D${method}%26oauth_timestamp%3D1191242096` +
  '%26oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0%26size%3Doriginal';

describe('RFC 5849 §3.4.1.1 example', () => {
  it('builds the base string byte for byte', () => {
    expect(buildSignatureBaseString('POST', RFC_URL, RFC_OAUTH, RFC_BODY)).toBe(RFC_BASE_STRING);
  });

  it('signs it to the HMAC-SHA1 value of RFC 5849 errata 2550', () => {
    // The RFC prints bYT5CMsGcbgUdFHObYMEfcx6bsw=, which no key reproduces; errata 2550 corrects it
    // for the §3.1 credentials. The wrapper adds oauth_version=1.0, so the header's signature is
    // checked against the base string with it.
    expect(createHmac('sha1', 'j49sk3j29djd&dh893hdasih9').update(RFC_BASE_STRING).digest('base64')).toBe('r6/TJjbCOr97/+UU0NsvSne7s5g=');
    const { authorization } = signOAuth1({
      method: 'POST',
      url: RFC_URL,
      body: RFC_BODY,
      consumer: { key: '9djdj82h48djs9d2', secret: 'j49sk3j29djd' },
      token: { key: 'kkk9d7dh3k39sjv7', secret: 'dh893hdasih9' },
      nonce: '7d8f3e4a',
      nowSeconds: 137131201,
    });
    const withVersion = RFC_BASE_STRING + '%26oauth_version%3D1.0';
    expect(parseHeader(authorization).oauth_signature).toBe(
      createHmac('sha1', 'j49sk3j29djd&dh893hdasih9').update(withVersion).digest('base64'),
    );
  });
});

describe('OAuth Core 1.0 Appendix A "photos" example', () => {
  it('produces tR3+Ty81lMeYAr/Fid0kMTYa/WM= and a complete header', () => {
    const { authorization } = signOAuth1(PHOTOS);
    expect(parseHeader(authorization)).toEqual({
      oauth_consumer_key: 'dpf43f3p2l4k3l03',
      oauth_nonce: 'kllo9940pd9333jh',
      oauth_signature: 'tR3+Ty81lMeYAr/Fid0kMTYa/WM=',
      oauth_signature_method: 'HMAC-SHA1',
      oauth_timestamp: '1191242096',
      oauth_token: 'nnch734d00sl2jdk',
      oauth_version: '1.0',
    });
    // §3.5.1: values are percent-encoded inside the quotes.
    expect(authorization).toContain('oauth_signature="tR3%2BTy81lMeYAr%2FFid0kMTYa%2FWM%3D"');
  });

  it('matches the appendix base string', () => {
    const oauth = {
      oauth_consumer_key: 'dpf43f3p2l4k3l03',
      oauth_token: 'nnch734d00sl2jdk',
      oauth_signature_method: 'HMAC-SHA1',
      oauth_timestamp: '1191242096',
      oauth_nonce: 'kllo9940pd9333jh',
      oauth_version: '1.0',
    };
    expect(buildSignatureBaseString('GET', PHOTOS.url, oauth)).toBe(photosBaseString('HMAC-SHA1'));
  });
});

describe('signature methods', () => {
  it('HMAC-SHA256 keys the SHA-256 HMAC with consumer&token secrets', () => {
    const { authorization } = signOAuth1({ ...PHOTOS, signatureMethod: 'HMAC-SHA256' });
    const expected = createHmac('sha256', 'kd94hf93k423kf44&pfkkdhi9sl3r4s00').update(photosBaseString('HMAC-SHA256')).digest('base64');
    expect(parseHeader(authorization)).toMatchObject({ oauth_signature_method: 'HMAC-SHA256', oauth_signature: expected });
  });

  it('RSA-SHA1 signs the base string with the private key (verified with the public one)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const { authorization } = signOAuth1({ ...PHOTOS, signatureMethod: 'RSA-SHA1', privateKeyPem });
    const params = parseHeader(authorization);
    expect(params.oauth_signature_method).toBe('RSA-SHA1');
    const verify = (text: string) =>
      createVerify('RSA-SHA1')
        .update(text)
        .verify(publicKey, params.oauth_signature as string, 'base64');
    expect(verify(photosBaseString('RSA-SHA1'))).toBe(true);
    expect(verify(photosBaseString('RSA-SHA1').replace('vacation', 'vacatioN'))).toBe(false);
  });

  it('RSA-SHA1 without a key is refused', () => {
    expect(() => signOAuth1({ ...PHOTOS, signatureMethod: 'RSA-SHA1' })).toThrow(/private key/);
  });

  it('PLAINTEXT is refused over http and sends the encoded key over https', () => {
    expect(() => signOAuth1({ ...PHOTOS, signatureMethod: 'PLAINTEXT' })).toThrowError(
      expect.objectContaining({ code: 'FP_OAUTH', message: expect.stringMatching(/only allowed over https/) }),
    );
    const { authorization } = signOAuth1({
      ...PHOTOS,
      url: 'https://photos.example.net/photos',
      consumer: { key: 'k', secret: 'c s&' },
      signatureMethod: 'PLAINTEXT',
    });
    // §3.4.4: signature = encode(consumer secret) & encode(token secret), then encoded again in the header.
    expect(parseHeader(authorization).oauth_signature).toBe('c%20s%26&pfkkdhi9sl3r4s00');
  });
});

describe('encoding edge cases (RFC 5849 §3.4.1.3, §3.6)', () => {
  const paramString = (url: string, body: Record<string, string> = {}) => {
    const base = buildSignatureBaseString('GET', url, {}, body);
    return decodeURIComponent(base.split('&')[2] as string);
  };

  it.each([
    ['sub-delims are encoded', "http://h/p?x=!*'()", 'x=%21%2A%27%28%29'],
    ['already-encoded sub-delims are the same', 'http://h/p?x=%21%2A%27%28%29', 'x=%21%2A%27%28%29'],
    ['space as %20, + in a query is a space', 'http://h/p?a=1+2&b=1%202&c=a%2Bb', 'a=1%202&b=1%202&c=a%2Bb'],
    ['a raw space in the URL', 'http://h/p?q=a b', 'q=a%20b'],
    ['repeated keys sorted by value', 'http://h/p?a=z&a=b&a=', 'a=&a=b&a=z'],
    ['empty values and names without =', 'http://h/p?e=&f&g=1', 'e=&f=&g=1'],
    ['= inside a value', 'http://h/p?a=b=c', 'a=b%3Dc'],
    ['encoded names decode', 'http://h/p?c%40=1', 'c%40=1'],
    ['unicode, raw and encoded', 'http://h/p?u=日本&v=%C3%A9', 'u=%E6%97%A5%E6%9C%AC&v=%C3%A9'],
    ['octets that are not UTF-8 round-trip', 'http://h/p?b=%FF', 'b=%FF'],
    ['unreserved stay as they are', 'http://h/p?k=a-b.c_d~e', 'k=a-b.c_d~e'],
    ['sort is by encoded name (uppercase before lowercase)', 'http://h/p?b=1&B=2&a=3', 'B=2&a=3&b=1'],
    ['empty pairs are skipped, fragment ignored', 'http://h/p?&a=1&&b=2#frag', 'a=1&b=2'],
  ])('%s', (_name, url, expected) => {
    expect(paramString(url)).toBe(expected);
  });

  it('keeps a query parameter and a body parameter of the same name', () => {
    // Sorted by encoded bytes: `%` (0x25) comes before `a`.
    expect(paramString('http://h/p?a=1', { a: '2', 'ü n': '*' })).toBe('%C3%BC%20n=%2A&a=1&a=2');
  });

  it.each([
    ['HTTP://Example.COM:80/Path', 'http%3A%2F%2Fexample.com%2FPath'],
    ['https://example.com:443/', 'https%3A%2F%2Fexample.com%2F'],
    ['http://example.com:8080/a%20b', 'http%3A%2F%2Fexample.com%3A8080%2Fa%2520b'],
    ['http://user:pw@example.com/x', 'http%3A%2F%2Fexample.com%2Fx'],
  ])('base string URI of %s (§3.4.1.2)', (url, expected) => {
    expect(buildSignatureBaseString('get', url, {}).split('&').slice(0, 2)).toEqual(['GET', expected]);
  });

  it('encodes per RFC 3986 with upper-case hex', () => {
    expect(encodeRfc3986("a b!*'()~é/?")).toBe('a%20b%21%2A%27%28%29~%C3%A9%2F%3F');
  });
});

describe('protocol parameters', () => {
  it('signs oauth_callback and oauth_verifier and carries them in the header', () => {
    const { authorization } = signOAuth1({
      ...PHOTOS,
      oauthParams: { oauth_callback: 'http://printer.example.com/ready?x=1', oauth_verifier: 'hfdp7dh39dks9884' },
    });
    const params = parseHeader(authorization);
    expect(params.oauth_callback).toBe('http://printer.example.com/ready?x=1');
    expect(params.oauth_verifier).toBe('hfdp7dh39dks9884');
    const { oauth_signature: signature, ...signed } = params;
    const base = buildSignatureBaseString('GET', PHOTOS.url, signed);
    expect(signature).toBe(createHmac('sha1', 'kd94hf93k423kf44&pfkkdhi9sl3r4s00').update(base).digest('base64'));
  });

  it('refuses to let the caller override what the signer owns', () => {
    expect(() => signOAuth1({ ...PHOTOS, oauthParams: { oauth_signature: 'x' } })).toThrow(/oauth_signature/);
    expect(() => signOAuth1({ ...PHOTOS, oauthParams: { notoauth: 'x' } })).toThrow(/cannot be set/);
  });

  it('uses a fresh nonce and the current time by default', () => {
    const { nonce: _nonce, nowSeconds: _now, ...input } = PHOTOS;
    const first = parseHeader(signOAuth1(input).authorization);
    const second = parseHeader(signOAuth1(input).authorization);
    expect(first.oauth_nonce).not.toBe(second.oauth_nonce);
    expect(first.oauth_nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(Number(first.oauth_timestamp)).toBeGreaterThan(1_700_000_000);
  });

  it('never repeats a URL (which may carry a token) in its errors', () => {
    expect(() => signOAuth1({ ...PHOTOS, url: 'not a url?feed_token=s3cr3t' })).toThrowError(
      expect.objectContaining({ message: expect.not.stringContaining('s3cr3t') }),
    );
    expect(() => signOAuth1({ ...PHOTOS, url: 'ftp://h/x?feed_token=s3cr3t' })).toThrow(/only http/);
  });
});
