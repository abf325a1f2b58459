// Content coding of published documents: negotiated per RFC 9110 §12.5.3, made once per document.
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { chooseCoding, createEncodedBodyCache } from '../../src/routes/encoded-bodies.js';

const BIG = 4096;

describe('chooseCoding', () => {
  it.each([
    [undefined, BIG, 'identity'],
    ['', BIG, 'identity'],
    ['gzip', BIG, 'gzip'],
    ['gzip, deflate, br', BIG, 'br'],
    ['br;q=0.1, gzip;q=0.9', BIG, 'gzip'],
    ['deflate', BIG, 'identity'],
    ['identity', BIG, 'identity'],
    ['*', BIG, 'br'],
    ['gzip;q=0, br;q=0', BIG, 'identity'],
    ['gzip, br', 200, 'identity'],
  ])('Accept-Encoding %j, %i bytes → %s', (header, bytes, expected) => {
    expect(chooseCoding(header, bytes)).toBe(expected);
  });
});

describe('encoded body cache', () => {
  const text = '<feed>' + 'entry '.repeat(2000) + '</feed>';
  const body = () => text;

  it('gives bytes that decode to the body, and the same buffer on every later request', async () => {
    const cache = createEncodedBodyCache(1024 * 1024);
    const gz = await cache.get('"a"', body, 'gzip');
    expect(gunzipSync(gz).toString('utf8')).toBe(text);
    expect(brotliDecompressSync(await cache.get('"a"', body, 'br')).toString('utf8')).toBe(text);
    expect((await cache.get('"a"', body, 'identity')).toString('utf8')).toBe(text);
    expect(await cache.get('"a"', body, 'gzip')).toBe(gz);
    // Concurrent misses share one compression.
    const [first, second] = await Promise.all([cache.get('"b"', body, 'br'), cache.get('"b"', body, 'br')]);
    expect(first).toBe(second);
  });

  it('keeps each copy in memory of its own size, not a slice of a larger block (zlib’s output chunk, Buffer’s pool)', async () => {
    const cache = createEncodedBodyCache(1024 * 1024);
    const small = () => '<feed><entry>short</entry></feed>';
    for (const [etag, make] of [
      ['"small"', small],
      ['"big"', body],
    ] as const) {
      for (const coding of ['gzip', 'br', 'identity'] as const) {
        const copy = await cache.get(etag, make, coding);
        expect(copy.length).toBeGreaterThan(0);
        expect([copy.byteOffset, copy.buffer.byteLength]).toEqual([0, copy.length]);
      }
    }
  });

  it('evicts the oldest copies past its byte budget', async () => {
    const cache = createEncodedBodyCache(text.length + 10);
    const old = await cache.get('"old"', body, 'identity');
    const kept = await cache.get('"new"', body, 'identity');
    expect(await cache.get('"new"', body, 'identity')).toBe(kept);
    // Evicted: made again, a new buffer.
    expect(await cache.get('"old"', body, 'identity')).not.toBe(old);
  });
});
