// A local upstream for tests: a node:http server on 127.0.0.1, port 0, whose routes each test sets,
// recording every request it receives. Handlers below cover what feeds do in the wild: validators
// and conditional GET, content codings, redirects, hangs, slow drips, errors with Retry-After.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

export type UpstreamHandler = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>;

export interface RecordedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Upstream {
  /** Absolute URL of `path` on this upstream. */
  url(path?: string): string;
  port: number;
  /** `127.0.0.1:PORT`, the form FEEDPROXY_ALLOW_PRIVATE takes. */
  hostPort: string;
  requests: RecordedRequest[];
  /** Sets (or replaces) the handler of one path; the query is ignored when matching. */
  route(path: string, handler: UpstreamHandler): void;
  close(): Promise<void>;
}

/**
 * Starts an upstream. `routes` maps paths to handlers (unknown paths answer 404), or is one handler
 * for every request.
 */
export async function startUpstream(routes: Record<string, UpstreamHandler> | UpstreamHandler = {}): Promise<Upstream> {
  const table = new Map<string, UpstreamHandler>(typeof routes === 'function' ? [] : Object.entries(routes));
  const fallback = typeof routes === 'function' ? routes : undefined;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({
        method: request.method ?? 'GET',
        url: request.url ?? '/',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const path = new URL(request.url ?? '/', 'http://upstream').pathname;
      const handler = table.get(path) ?? fallback ?? status(404);
      Promise.resolve(handler(request, response)).catch(() => response.destroy());
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: (path = '/') => `http://127.0.0.1:${port}${path}`,
    port,
    hostPort: `127.0.0.1:${port}`,
    requests,
    route(path, handler) {
      table.set(path, handler);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type ContentCoding = 'gzip' | 'br' | 'deflate' | 'deflate-raw';

export interface ServeOptions {
  contentType?: string;
  etag?: string;
  lastModified?: string;
  cacheControl?: string;
  /** Compresses the body and labels it (`deflate-raw` is labelled `deflate`, as broken servers do). */
  encoding?: ContentCoding;
  headers?: Record<string, string>;
}

/**
 * Serves `body` like a well-behaved origin: validators on 200 and 304, and conditional GET where
 * If-None-Match, when present, decides alone (RFC 9110 §13.2.2) and If-Modified-Since is only
 * looked at without it (§13.1.3).
 */
export function serveBody(body: string | Buffer, options: ServeOptions = {}): UpstreamHandler {
  return (request, response) => {
    const validators: Record<string, string> = {};
    if (options.etag !== undefined) validators.etag = options.etag;
    if (options.lastModified !== undefined) validators['last-modified'] = options.lastModified;
    if (options.cacheControl !== undefined) validators['cache-control'] = options.cacheControl;
    if (isNotModified(request, options)) {
      response.writeHead(304, validators).end();
      return;
    }
    const encoded = options.encoding === undefined ? Buffer.from(body) : encode(Buffer.from(body), options.encoding);
    response.writeHead(200, {
      'content-type': options.contentType ?? 'application/atom+xml; charset=utf-8',
      'content-length': String(encoded.length),
      ...(options.encoding === undefined ? {} : { 'content-encoding': options.encoding === 'deflate-raw' ? 'deflate' : options.encoding }),
      ...validators,
      ...options.headers,
    });
    response.end(encoded);
  };
}

/** Serves a file of test/fixtures/ (path relative to it) with `serveBody`. */
export function serveFixture(path: string, options: ServeOptions = {}): UpstreamHandler {
  return serveBody(readFixture(path), options);
}

export function readFixture(path: string): Buffer {
  return readFileSync(fileURLToPath(new URL(`../fixtures/${path}`, import.meta.url)));
}

export function redirect(code: 301 | 302 | 303 | 307 | 308, location: string): UpstreamHandler {
  return (_request, response) => {
    response.writeHead(code, { location, 'content-length': '0' }).end();
  };
}

/** Answers `code` with an optional Retry-After and body. */
export function status(code: number, options: { retryAfter?: string; body?: string } = {}): UpstreamHandler {
  return (_request, response) => {
    const body = options.body ?? '';
    response.writeHead(code, {
      'content-type': 'text/plain',
      'content-length': String(Buffer.byteLength(body)),
      ...(options.retryAfter === undefined ? {} : { 'retry-after': options.retryAfter }),
    });
    response.end(body);
  };
}

/** Never answers; the socket stays open until the client gives up or the upstream closes. */
export function hang(): UpstreamHandler {
  return () => undefined;
}

/** Sends headers, then one byte every `intervalMs`, forever. */
export function slowDrip(intervalMs = 50): UpstreamHandler {
  return (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/rss+xml' });
    response.write('<');
    const timer = setInterval(() => response.write(' '), intervalMs);
    response.on('close', () => clearInterval(timer));
  };
}

export interface StreamStats {
  /** Bytes handed to the socket so far. */
  bytesSent: number;
  /** True once every chunk was sent. */
  finished: boolean;
}

/**
 * Streams `chunk` `times` times with backpressure (a large plain body, or a bomb made of
 * concatenated gzip members), under the given headers. `stats` shows how far it got.
 */
export function repeatBody(chunk: Buffer, times: number, headers: Record<string, string>, stats: StreamStats): UpstreamHandler {
  return async (_request, response) => {
    response.writeHead(200, headers);
    for (let sent = 0; sent < times; sent += 1) {
      if (response.destroyed) return;
      stats.bytesSent += chunk.length;
      if (!response.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            response.off('drain', done).off('close', done);
            resolve();
          };
          response.on('drain', done).on('close', done);
        });
      }
    }
    stats.finished = true;
    response.end();
  };
}

function isNotModified(request: IncomingMessage, options: ServeOptions): boolean {
  const ifNoneMatch = request.headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    if (options.etag === undefined) return false;
    // Weak comparison (RFC 9110 §8.8.3.2): W/ prefixes don't matter for If-None-Match.
    const bare = (tag: string) => tag.trim().replace(/^W\//, '');
    return ifNoneMatch.trim() === '*' || ifNoneMatch.split(',').some((tag) => bare(tag) === bare(options.etag ?? ''));
  }
  const ifModifiedSince = request.headers['if-modified-since'];
  if (ifModifiedSince === undefined || options.lastModified === undefined) return false;
  const since = Date.parse(ifModifiedSince);
  return !Number.isNaN(since) && Date.parse(options.lastModified) <= since;
}

function encode(body: Buffer, encoding: ContentCoding): Buffer {
  switch (encoding) {
    case 'gzip':
      return zlib.gzipSync(body);
    case 'br':
      return zlib.brotliCompressSync(body);
    case 'deflate':
      return zlib.deflateSync(body);
    case 'deflate-raw':
      return zlib.deflateRawSync(body);
  }
}
