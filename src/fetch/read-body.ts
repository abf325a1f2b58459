// Reads an upstream body under the size cap, decoding Content-Encoding ourselves so the cap counts
// decoded bytes: a small gzip/brotli bomb stops at the cap instead of filling memory.
import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { UpstreamEncodingError, UpstreamTooLargeError } from '../errors.js';

// Lenient flushes: many servers cut the compressed stream short, and browsers still show the page
// (the same choice as undici's fetch).
const ZLIB_OPTIONS: zlib.ZlibOptions = {
  flush: zlib.constants.Z_SYNC_FLUSH,
  finishFlush: zlib.constants.Z_SYNC_FLUSH,
  chunkSize: 64 * 1024,
};
const BROTLI_OPTIONS: zlib.BrotliOptions = {
  flush: zlib.constants.BROTLI_OPERATION_FLUSH,
  finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH,
  chunkSize: 64 * 1024,
};

/**
 * The most codings an answer may stack: a server applies one, and a proxy compressing an answer
 * already compressed makes two. Each coding is a decoder with a window of its own (up to 16 MiB for
 * brotli, RFC 7932 §9.1), and a 16 KB header lists 3,200 of them. undici's fetch allows 5, as curl
 * does since CVE-2022-32206; we allow what servers send.
 */
const MAX_CODINGS = 2;

/** Content-Encoding codings we decode (RFC 9110 §8.4.1); x-gzip is the legacy alias. */
export const ACCEPT_ENCODING = 'gzip, deflate, br';

/** True when the Content-Encoding header names only codings we can undo. */
export function canDecode(contentEncoding: string | undefined): boolean {
  return listCodings(contentEncoding).every((coding) => coding in DECODERS);
}

/**
 * Collects `body` decoded, failing with FP_UPSTREAM_TOO_LARGE as soon as the decoded size passes
 * `maxBytes`, and with FP_UPSTREAM_ENCODING, unread, when it stacks more than MAX_CODINGS codings.
 * Codings we don't know leave the body as sent. Aborting `signal` stops the read.
 */
export async function readBody(
  body: Readable,
  contentEncoding: string | undefined,
  maxBytes: number,
  signal: AbortSignal,
): Promise<Buffer> {
  const codings = listCodings(contentEncoding);
  // Decided from the header alone, before any decoder exists.
  if (codings.length > MAX_CODINGS) {
    // Its abort error has nobody to report to.
    body.on('error', () => undefined);
    body.destroy();
    throw new UpstreamEncodingError(codings.length, MAX_CODINGS);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      if (total > maxBytes) {
        callback(new UpstreamTooLargeError(maxBytes));
        return;
      }
      chunks.push(chunk);
      callback();
    },
  });
  // Applied in the reverse order of the header (RFC 9110 §8.4: codings are listed as applied).
  const decoders = codings.every((coding) => coding in DECODERS) ? codings.reverse().map((coding) => DECODERS[coding]!()) : [];
  await pipeline([body, ...decoders, sink], { signal });
  return Buffer.concat(chunks, total);
}

const DECODERS: Record<string, () => Transform> = {
  gzip: () => zlib.createGunzip(ZLIB_OPTIONS),
  'x-gzip': () => zlib.createGunzip(ZLIB_OPTIONS),
  deflate: () => new InflateAuto(),
  br: () => zlib.createBrotliDecompress(BROTLI_OPTIONS),
};

function listCodings(contentEncoding: string | undefined): string[] {
  if (contentEncoding === undefined) return [];
  return contentEncoding
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
}

/**
 * `deflate` is meant to be zlib-wrapped (RFC 9110 §8.4.1.2) but some servers send raw deflate;
 * the first byte tells them apart (zlib's CMF byte has compression method 8 in its low nibble).
 */
class InflateAuto extends Transform {
  #inner: zlib.Inflate | zlib.InflateRaw | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#inner === undefined) {
      const inner = ((chunk[0] ?? 0) & 0x0f) === 0x08 ? zlib.createInflate(ZLIB_OPTIONS) : zlib.createInflateRaw(ZLIB_OPTIONS);
      inner.on('data', (data: Buffer) => this.push(data));
      inner.on('error', (error) => this.destroy(error));
      this.#inner = inner;
    }
    this.#inner.write(chunk, () => callback());
  }

  override _flush(callback: TransformCallback): void {
    const inner = this.#inner;
    if (inner === undefined) {
      callback();
      return;
    }
    inner.once('end', () => callback());
    inner.end();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inner?.destroy();
    callback(error);
  }
}
