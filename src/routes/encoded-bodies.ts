// Published documents as the bytes each reader asked for (identity, gzip or br), made once per
// document and coding rather than on every GET: readers poll the same bytes all day, and
// compressing them per request cost a 14× lower throughput than answering from a ready copy
// (BENCHMARKS.md, bench 1, fix 1.5). Copies are keyed by the document's ETag — content-addressed,
// so one is never stale — and bounded by total size. The only import of @fastify/accept-negotiator.
import { negotiate } from '@fastify/accept-negotiator';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

export type ContentCoding = 'br' | 'gzip' | 'identity';

/** What we offer, our preference first (br is smaller; RFC 9110 §12.5.3 lets q-values decide). */
const CODINGS = ['br', 'gzip'] as const;
/** Below this a compressed copy saves less than its headers cost. */
const MIN_COMPRESSED_BYTES = 1024;

/** The coding to answer a request's Accept-Encoding with; identity when it names none we make. */
export function chooseCoding(acceptEncoding: string | undefined, bodyBytes: number): ContentCoding {
  if (!acceptEncoding || bodyBytes < MIN_COMPRESSED_BYTES) return 'identity';
  return (negotiate(acceptEncoding, [...CODINGS]) as ContentCoding | null) ?? 'identity';
}

export interface EncodedBodyCache {
  /** The body whose tag is `etag`, as bytes in `coding`; made (from `body()`) once, then served from memory. */
  get(etag: string, body: () => string, coding: ContentCoding): Promise<Buffer>;
}

export function createEncodedBodyCache(maxBytes: number): EncodedBodyCache {
  const copies = new Map<string, Promise<Buffer>>();
  const sizes = new Map<string, number>();
  let total = 0;

  function remember(key: string, bytes: Buffer): void {
    sizes.set(key, bytes.length);
    total += bytes.length;
    // Oldest first: a feed's previous versions go before its current one.
    for (const [oldKey, size] of sizes) {
      if (total <= maxBytes || oldKey === key) break;
      sizes.delete(oldKey);
      copies.delete(oldKey);
      total -= size;
    }
  }

  return {
    get(etag, body, coding) {
      const key = `${etag}|${coding}`;
      let copy = copies.get(key);
      if (!copy) {
        // Concurrent misses share one result. Compression runs here, synchronously, once per
        // document and coding (a few milliseconds for a large feed). Run in libuv's pool instead,
        // bench 5's 10,000-source instance held 403 MiB RSS after serving every feed, against 292
        // this way (the pool threads' allocators keep what they used).
        copy = Promise.resolve()
          .then(() => encode(body(), coding))
          .then(
            (bytes) => (remember(key, bytes), bytes),
            (error: unknown) => {
              copies.delete(key);
              throw error;
            },
          );
        copies.set(key, copy);
      }
      return copy;
    },
  };
}

/**
 * The bytes in memory of their own: zlib hands back a result that fits one output chunk as a slice of
 * that chunk (64 KiB on Node 24, 16 KiB on Node 20), and a short string's bytes are a slice of
 * Buffer's shared 8 KiB pool, so a kept slice of a few KB would hold the whole block alive while the
 * budget counts only its length (3,000 small feeds held 88–93 MiB on Node 24: bench/diagnoses.md §5).
 */
function ownBytes(bytes: Buffer): Buffer {
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length) return bytes;
  const own = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(own);
  return own;
}

function encode(body: string, coding: ContentCoding): Buffer {
  return ownBytes(encodeAs(body, coding));
}

function encodeAs(body: string, coding: ContentCoding): Buffer {
  const bytes = Buffer.from(body, 'utf8');
  if (coding === 'gzip') return gzipSync(bytes, { level: 9 });
  if (coding === 'br') {
    // Quality 5 with a 1 MiB window: close to gzip -9's size, and far less memory and time than
    // brotli's defaults (quality 11, 4 MiB window).
    return brotliCompressSync(bytes, {
      params: {
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
        [constants.BROTLI_PARAM_QUALITY]: 5,
        [constants.BROTLI_PARAM_LGWIN]: 20,
        [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      },
    });
  }
  return bytes;
}
