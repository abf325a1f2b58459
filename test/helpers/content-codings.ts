// Stacked Content-Encoding for tests: a body gzipped `layers` times over with the header that says
// so, and a count of the zlib streams the process creates meanwhile (every zlib and brotli stream
// is an async resource of type ZLIB), so a test can tell "refused from the header" from "decoded".
import { createHook } from 'node:async_hooks';
import zlib from 'node:zlib';
import type { UpstreamHandler } from './upstream.js';

/** `body` gzipped `layers` times, and the Content-Encoding that lists each layer (RFC 9110 §8.4). */
export function gzipLayers(body: string | Buffer, layers: number): { body: Buffer; contentEncoding: string } {
  let encoded = Buffer.from(body);
  for (let layer = 0; layer < layers; layer += 1) encoded = zlib.gzipSync(encoded);
  return { body: encoded, contentEncoding: Array<string>(layers).fill('gzip').join(', ') };
}

/** Answers 200 with `body` gzipped `layers` times, whatever the request asked for. */
export function serveGzipLayers(body: string | Buffer, layers: number, contentType = 'application/rss+xml'): UpstreamHandler {
  const stacked = gzipLayers(body, layers);
  return (_request, response) =>
    void response
      .writeHead(200, {
        'content-type': contentType,
        'content-encoding': stacked.contentEncoding,
        'content-length': String(stacked.body.length),
      })
      .end(stacked.body);
}

export interface ZlibStreamCounter {
  /** zlib and brotli streams created since the counter started. */
  created(): number;
  /** Runs `work` (a test's own compression, say) without counting the streams it creates. */
  uncounted<T>(work: () => T): T;
  stop(): void;
}

export function countZlibStreams(): ZlibStreamCounter {
  let created = 0;
  let counting = true;
  const hook = createHook({
    init(_asyncId, type) {
      if (type === 'ZLIB' && counting) created += 1;
    },
  }).enable();
  return {
    created: () => created,
    uncounted(work) {
      counting = false;
      try {
        return work();
      } finally {
        counting = true;
      }
    },
    stop: () => void hook.disable(),
  };
}
