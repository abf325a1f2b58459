// GET|HEAD /<token>.atom|.rss|.json — the public, unauthenticated feed URLs readers poll — and their
// CORS preflight. A GET reads stored bytes: it never fetches an upstream and never re-renders. Each
// token of a feed (the default one and every named subscriber URL) is counted apart for
// GET /api/v1/feeds/:id/stats.
//
// Readers poll all day and nearly every poll is a conditional GET of a feed that has not changed,
// so a poll is answered from this instance's memory (publish/published-cache.ts, invalidated
// exactly by the store), and everything else it costs is made once per document: the header block
// of each answer (304, and 200 per content coding) is a ready list written with the body in one
// writeHead + end. Each answer carries what it needs and no more (SECURITY.md, "Headers"): a 304
// the validators, caching and CORS headers, a 200 also the security headers of a feed document,
// any error answer the error headers below. This plugin is a scope of its own, beside the site's
// (app.ts): the site's hooks (security headers, metrics), compression and rate limiter never run
// here, so the route sets its headers itself and counts its own metrics (BENCHMARKS.md, diagnosis 1).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { NotFoundError, RateLimitedError, withRetryAfter } from '../errors.js';
import { feedSecurityHeaders, HELMET_HEADERS } from '../http-security.js';
import { parseFeedFile, PUBLIC_FEED_PATH } from '../publish/public-paths.js';
import { createPublishedCache, type PublishedEntry } from '../publish/published-cache.js';
import { clientAddressOf } from './client-address.js';
import { createPublicLimit } from './public-limit.js';
import { isBrowserNavigation, sendFeedPage } from './browser-view.js';
import { chooseCoding, createEncodedBodyCache } from './encoded-bodies.js';

/** Ready-to-send bytes (identity, gzip, br) of recent documents, all tokens together. */
const ENCODED_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * Feed readers that run in a browser read the feeds cross-origin, and nothing a feed says depends
 * on who asks: `*` for every origin, so no answer varies with Origin (Fetch, "CORS protocol and
 * HTTP caches"). The API is never offered cross-origin (no CORS header, its preflight answers 404).
 */
const ALLOW_ANY_ORIGIN = { 'access-control-allow-origin': '*' } as const;
/** The preflight: GET and HEAD, whatever request headers a reader sends (If-None-Match…), for a day. */
const PREFLIGHT_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, HEAD',
  'access-control-max-age': '86400',
  vary: 'Access-Control-Request-Headers',
} as const;

type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildLoggerOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>;

/** The route, as /metrics labels it. */
const ROUTE = '/:file';

/** The public route's log level: readers poll all day; errors and warnings still log. */
const PUBLIC_LOG_LEVEL = 'warn';

/**
 * A request's logger that becomes pino's child (bindings serialised, redaction set up: a tenth of
 * a 304's cost in the profile, BENCHMARKS.md diagnosis 1) only when a line at or above the route's
 * level is written; below it, nothing is made.
 */
class LazyChildLogger {
  #child: FastifyBaseLogger | undefined;
  readonly level = PUBLIC_LOG_LEVEL;
  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}
  private get real(): FastifyBaseLogger {
    return (this.#child ??= this.parent.child(this.bindings, this.options));
  }
  fatal(...args: Parameters<FastifyBaseLogger['fatal']>): void {
    this.real.fatal(...args);
  }
  error(...args: Parameters<FastifyBaseLogger['error']>): void {
    this.real.error(...args);
  }
  warn(...args: Parameters<FastifyBaseLogger['warn']>): void {
    this.real.warn(...args);
  }
  info(): void {}
  debug(): void {}
  trace(): void {}
  silent(): void {}
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real.child(bindings, options);
  }
}

/**
 * The fast lane: answers a poll the memory can answer whole — a 304, or a 200 whose bytes are
 * kept — straight from the server's request event, before Fastify routes it; returns false, having
 * done nothing, for every other request, which Fastify then handles as usual (app.ts).
 */
export type PollAnswerer = (request: IncomingMessage, response: ServerResponse) => boolean;

export interface PublicFeedOptions {
  /** Receives this scope's fast lane once it is ready (app.ts puts it in front of Fastify). */
  onFastLane?: (answer: PollAnswerer) => void;
}

export const publicFeedRoutes: FastifyPluginAsyncTypebox<PublicFeedOptions> = async (app, options) => {
  const { stats, config } = app.deps;
  const cache = await createPublishedCache(app.deps);
  const encoded = createEncodedBodyCache(ENCODED_CACHE_BYTES);
  // On Redis, N instances enforce one budget (counts shared in batches: public-limit.ts).
  const shared = /^rediss?:/.test(config.store) ? app.deps.registry.publicLimitCounts : undefined;
  const limit = createPublicLimit(config.limits.publicRequestsPerMinute, Date.now, shared);
  const reads = app.deps.metrics.publicFeedReads;
  const cacheControl = `public, max-age=${config.feeds.maxAgeSeconds}`;
  const security = feedSecurityHeaders(config.publicUrl);
  /** An error answer's headers (404, 429, 5xx): an error document is a document a browser may show. */
  const errorHeaders = Object.freeze({ ...security, ...ALLOW_ANY_ORIGIN });
  /** Every page header, with a resource policy that lets a page elsewhere embed what the URL answers. */
  const crossOriginPageHeaders = Object.freeze({ ...HELMET_HEADERS, 'cross-origin-resource-policy': 'cross-origin' });
  /** The feed page a browser navigation gets (browser-view.ts) is an HTML page: every page header. */
  const pageHeaders = Object.freeze({ ...crossOriginPageHeaders, ...ALLOW_ANY_ORIGIN });
  const securityBlock = Object.entries(security).flat();
  app.addHook('onClose', async () => {
    await limit.close();
    await cache.close();
  });
  // Every answer of this scope in /metrics, as the site's hook counts its routes' (app.ts): a poll,
  // a refusal, an error, a preflight. Fastify runs it when the response ends, hijacked or not.
  app.addHook('onResponse', (request, reply, done) => {
    app.deps.metrics.countHttpRequest(ROUTE, request.method, reply.statusCode);
    done();
  });

  /**
   * Every error answer of the route (a 404, a 429, a 503 while the store is away, any 5xx) is a
   * document a browser may show: it carries the feed's error headers — the site's on a path that
   * is no feed URL (`/robots.txt`…, not shared cross-origin) — unless the failing path set its own
   * (the feed page's). The app's error handler (app.ts) then answers it.
   */
  const withErrorHeaders = (error: FastifyError, request: FastifyRequest, reply: FastifyReply): never => {
    if (!reply.hasHeader('x-content-type-options')) reply.headers(PUBLIC_FEED_PATH.test(request.url) ? errorHeaders : HELMET_HEADERS);
    throw error;
  };

  /** A poll of `entry` answered (by the route or the fast lane), for the feed's usage stats. */
  const recordPoll = (entry: PublishedEntry, notModified: boolean, userAgent: string | undefined): void =>
    stats.record({ feedId: entry.target.feedId, tokenId: entry.target.tokenId, notModified, userAgent, at: app.deps.now() });

  /**
   * The header block (name, value, …) of every 304 from `entry`: what RFC 9110 §15.4.5 asks a 304
   * to repeat of its 200 (ETag, Cache-Control, Vary; Node adds Date), Last-Modified for readers
   * that revalidate with If-Modified-Since, and CORS's header for a script that sent the
   * validators itself and reads the 304 as is. Security headers stay those of the stored 200.
   */
  const notModifiedBlock = (entry: PublishedEntry): string[] => {
    let block = entry.headerBlocks.get('304');
    if (block === undefined) {
      block = [
        'access-control-allow-origin',
        '*',
        'vary',
        varyOf(entry),
        'etag',
        entry.head.etag,
        'last-modified',
        entry.head.lastModified,
        'cache-control',
        cacheControl,
      ];
      entry.headerBlocks.set('304', block);
    }
    return block;
  };

  /**
   * The header block of a 200 (and HEAD) from `entry` in `coding`, `bytes` long, tagged `etag`.
   * A body of another render than the head's (a rebuild landed between the two reads) goes without
   * Last-Modified: the head's date is not that body's, and a reader revalidating with it alone
   * would be told its copy is current when it is not, or sent the body again when it is.
   */
  const okBlock = (entry: PublishedEntry, coding: string, bytes: Buffer, etag = entry.head.etag): string[] => [
    ...securityBlock,
    'access-control-allow-origin',
    '*',
    'vary',
    varyOf(entry),
    'etag',
    etag,
    ...(etag === entry.head.etag ? ['last-modified', entry.head.lastModified] : []),
    'cache-control',
    cacheControl,
    'content-type',
    entry.head.contentType,
    ...(coding === 'identity' ? [] : ['content-encoding', coding]),
    'content-length',
    String(bytes.length),
  ];
  const keptOkBlock = (entry: PublishedEntry, coding: string, bytes: Buffer): string[] => {
    let block = entry.headerBlocks.get(coding);
    if (block === undefined) entry.headerBlocks.set(coding, (block = okBlock(entry, coding, bytes)));
    return block;
  };

  /**
   * The answer, written in one go: Fastify's reply would copy the headers one call each and run
   * the send path's checks per request. Hijacking keeps its onResponse accounting (metrics) and
   * request logging, which listen for the response's end.
   */
  const write = (request: FastifyRequest, reply: FastifyReply, status: 200 | 304, block: string[], body?: Buffer): undefined => {
    reply.hijack();
    reply.raw.writeHead(status, block);
    if (request.method === 'HEAD' || body === undefined) reply.raw.end();
    else reply.raw.end(body);
    return undefined;
  };

  /** Answers from `entry` (undefined: the URL opens nothing); synchronous when memory holds the bytes. */
  const answer = (request: FastifyRequest, reply: FastifyReply, entry: PublishedEntry | undefined): Promise<unknown> | undefined => {
    const allowed = limit.take(request.ip, entry && limitKeyOf(entry));
    if (!allowed.allowed) {
      // The budget's figures on the refusal only: a reader that is answered has no use for them.
      reply
        .header('x-ratelimit-limit', allowed.limit)
        .header('x-ratelimit-remaining', allowed.remaining)
        .header('x-ratelimit-reset', allowed.resetSeconds);
      throw withRetryAfter(
        new RateLimitedError(`at most ${allowed.limit} a minute from this address for this feed; retry in ${allowed.resetSeconds} seconds`),
        allowed.resetSeconds * 1000,
      );
    }
    // `/robots.txt` and other one-segment paths too (withErrorHeaders gives them the site's headers).
    if (entry === undefined) throw new NotFoundError('Feed');
    // A browser navigating here is shown the feed page (browser-view.ts); readers get the bytes below.
    if (entry.format !== 'json' && isBrowserNavigation(request.headers)) return answerBrowser(reply, entry);

    const notModified = isNotModified(
      request.headers['if-none-match'],
      request.headers['if-modified-since'],
      entry.head.etag,
      entry.head.lastModified,
    );
    recordPoll(entry, notModified, request.headers['user-agent']);
    if (notModified) return write(request, reply, 304, notModifiedBlock(entry));
    if (entry.storedChars !== undefined) {
      const coding = chooseCoding(request.headers['accept-encoding'], entry.storedChars);
      const kept = entry.bytes.get(coding);
      if (kept !== undefined) return write(request, reply, 200, keptOkBlock(entry, coding, kept), kept);
    }
    return answerFromDocument(request, reply, entry);
  };

  /**
   * The fast lane (PollAnswerer): what `answer` does for a hit whose answer is in memory, without
   * Fastify's request and reply objects — the same limit on the same address (client-address.ts
   * reads it as Fastify does), the same stats and metrics, the same header blocks and bytes. Any
   * case it would answer differently (a miss, a query string, a browser navigation, a refusal, a
   * 200 whose bytes are not kept yet) it leaves untouched to the route above: its decisions come
   * before its side effects, so a request it passes on is counted once, by the route. (A refusal
   * spends nothing: the route refuses it again, with the 429's headers.)
   */
  const addressOf = clientAddressOf(config.trustProxy);
  // Once the app closes, Fastify answers (503 while closing); the cache is closed after it.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  const answerPoll: PollAnswerer = (request, response) => {
    try {
      return answerFromMemory(request, response);
    } catch (error) {
      // Never an exception out of the server's request event (it would end the process).
      app.log.error({ err: { type: (error as Error).name, message: (error as Error).message } }, 'fast lane failed');
      if (!response.headersSent) return false;
      response.destroy();
      return true;
    }
  };
  const answerFromMemory: PollAnswerer = (request, response) => {
    const method = request.method;
    if (closing || (method !== 'GET' && method !== 'HEAD')) return false;
    const url = request.url ?? '';
    // Only a URL the route would read as the same file name: no query, no percent-encoding.
    if (url.charCodeAt(0) !== 0x2f || url.includes('?') || url.includes('%')) return false;
    const entry = cache.get(url.slice(1));
    if (entry === undefined) return false;
    const headers = readPollHeaders(request);
    // Any navigation goes to the route, which tells a browser's (a feed page) from a reader's.
    if (entry.format !== 'json' && headers.secFetchMode === 'navigate') return false;
    const notModified = isNotModified(headers.ifNoneMatch, headers.ifModifiedSince, entry.head.etag, entry.head.lastModified);
    let status: 200 | 304 = 304;
    let block: string[];
    let body: Buffer | undefined;
    if (notModified) block = notModifiedBlock(entry);
    else {
      if (entry.storedChars === undefined) return false;
      const coding = chooseCoding(headers.acceptEncoding, entry.storedChars);
      body = entry.bytes.get(coding);
      if (body === undefined) return false;
      status = 200;
      block = keptOkBlock(entry, coding, body);
    }
    const address = addressOf(request);
    if (address === undefined || !limit.take(address, limitKeyOf(entry)).allowed) {
      // The route refuses it again, with the 429's headers: the budget is spent either way.
      return false;
    }
    // From here the request is the lane's: its budget is taken, so it is answered (or its socket
    // closed) here, never handed on to be counted twice.
    try {
      response.writeHead(status, block);
      if (method === 'HEAD' || body === undefined) response.end();
      else response.end(body);
    } catch (error) {
      app.log.error({ err: { type: (error as Error).name, message: (error as Error).message } }, 'fast lane could not answer');
      response.destroy();
      return true;
    }
    reads.memory += 1;
    recordPoll(entry, notModified, headers.userAgent);
    app.deps.metrics.countHttpRequest(ROUTE, method, status);
    return true;
  };
  options.onFastLane?.(answerPoll);

  const answerBrowser = async (reply: FastifyReply, entry: PublishedEntry): Promise<unknown> => {
    reply.headers(pageHeaders);
    if (await sendFeedPage(app.deps, reply, entry.token)) return reply;
    // The token stopped opening a feed meanwhile.
    throw new NotFoundError('Feed');
  };

  /** The bytes are not in memory yet: read the document, encode it once, keep it. */
  const answerFromDocument = async (request: FastifyRequest, reply: FastifyReply, entry: PublishedEntry): Promise<void> => {
    const document = await cache.document(entry);
    if (!document) throw new NotFoundError('Feed');
    const coding = chooseCoding(request.headers['accept-encoding'], document.storedChars);
    const bytes = await encoded.get(document.etag, document.body, coding);
    if (document.etag !== entry.head.etag) {
      // A rebuild landed between the two reads: send the body with its own tag.
      return write(request, reply, 200, okBlock(entry, coding, bytes, document.etag), bytes);
    }
    entry.storedChars = document.storedChars;
    cache.keepBytes(entry, coding, bytes);
    write(request, reply, 200, keptOkBlock(entry, coding, bytes), bytes);
  };

  const answerFromStore = async (request: FastifyRequest, reply: FastifyReply, file: string): Promise<unknown> => {
    const parsed = parseFeedFile(file);
    const entry = parsed && (await cache.load(file, parsed.token, parsed.format));
    reads.store += 1;
    return answer(request, reply, entry);
  };

  app.get(
    '/:file',
    {
      // Readers poll all day: two info lines per GET would dominate the log and cost half the
      // throughput of a 304 (BENCHMARKS.md, bench 1b). Errors still log.
      logLevel: PUBLIC_LOG_LEVEL,
      childLoggerFactory: (logger, bindings, options) => new LazyChildLogger(logger, bindings, options) as unknown as FastifyBaseLogger,
      errorHandler: withErrorHeaders,
      schema: {
        tags: ['public feeds'],
        summary: 'A published feed (Atom 1.0, RSS 2.0 or JSON Feed 1.1); no authentication',
        security: [],
        params: Type.Object({ file: Type.String({ description: '<token>.atom, <token>.rss or <token>.json' }) }),
      },
    },
    // Not async: a poll answered from memory makes no promise.
    (request, reply) => {
      const { file } = request.params;
      const entry = cache.get(file);
      if (entry === undefined) return answerFromStore(request, reply, file);
      reads.memory += 1;
      return answer(request, reply, entry);
    },
  );

  // The preflight of a feed URL, for a browser reader that sends If-None-Match (not a simple
  // request header). Any other path's preflight is not found: nothing else is shared cross-origin.
  app.options('/:file', { schema: { hide: true, params: Type.Object({ file: Type.String() }) } }, (request, reply) => {
    if (!PUBLIC_FEED_PATH.test(request.url)) return reply.callNotFound();
    // The site's headers (this scope is not the site's: app.ts), with the feed's resource policy.
    reply.headers(crossOriginPageHeaders);
    // A preflight names the origin and the method (Fetch, "CORS-preflight request"): anything else is not one.
    if (request.headers.origin === undefined || request.headers['access-control-request-method'] === undefined) {
      return reply.code(400).type('text/plain; charset=utf-8').send('Invalid Preflight Request');
    }
    const asked = request.headers['access-control-request-headers'];
    reply.headers(PREFLIGHT_HEADERS);
    if (asked !== undefined) reply.header('access-control-allow-headers', asked);
    return reply.code(204).header('content-length', '0').send();
  });
};

/**
 * What the answer depends on besides the URL: the coding (Accept-Encoding) and, for Atom and RSS, a
 * browser navigation that gets a page instead (browser-view.ts). A 304 names the same as its 200.
 */
function varyOf(entry: PublishedEntry): string {
  return entry.format === 'json' ? 'Accept-Encoding' : 'Sec-Fetch-Mode, Accept-Encoding';
}

/**
 * RFC 9110 §13.1.2: If-None-Match uses the weak comparison and, when present, decides alone
 * (§13.2.2 — If-Modified-Since is ignored then); §13.1.3: If-Modified-Since compares at one-second
 * resolution against Last-Modified.
 */
export function isNotModified(
  ifNoneMatch: string | undefined,
  ifModifiedSince: string | undefined,
  etag: string,
  lastModified: string,
): boolean {
  if (ifNoneMatch !== undefined) {
    // The common case, a reader sending back the one tag it was given: no split, no allocation.
    if (ifNoneMatch === etag) return true;
    if (ifNoneMatch.trim() === '*') return true;
    const opaque = etag.replace(/^W\//, '');
    return ifNoneMatch.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === opaque);
  }
  if (ifModifiedSince !== undefined) {
    // A reader sending back the Last-Modified it was given (the common case) is a match as is.
    if (ifModifiedSince === lastModified) return true;
    const since = Date.parse(ifModifiedSince);
    const modified = Date.parse(lastModified);
    return !Number.isNaN(since) && !Number.isNaN(modified) && modified <= since;
  }
  return false;
}

/** The request headers a poll is answered by, as `request.headers` would give them. */
interface PollHeaders {
  ifNoneMatch: string | undefined;
  ifModifiedSince: string | undefined;
  acceptEncoding: string | undefined;
  secFetchMode: string | undefined;
  userAgent: string | undefined;
}
/** One record, refilled by every call: the lane reads it before its next request (one thread). */
const pollHeaders: PollHeaders = {
  ifNoneMatch: undefined,
  ifModifiedSince: undefined,
  acceptEncoding: undefined,
  secFetchMode: undefined,
  userAgent: undefined,
};

/**
 * The headers the fast lane needs, read from the parser's list of raw lines. `request.headers` is
 * made on first use — an object with a property per line, each name lower-cased — which a poll that
 * needs five values pays for every line a reader sends. Node's rules for repeated lines are kept
 * (node:_http_incoming `matchKnownFields`): If-Modified-Since and User-Agent keep the first,
 * the others are joined with ", ". A server that joins every repeated line
 * (`joinDuplicateHeaders`) gets `request.headers` itself.
 */
function readPollHeaders(request: IncomingMessage): PollHeaders {
  const found = pollHeaders;
  found.ifNoneMatch = found.ifModifiedSince = found.acceptEncoding = found.secFetchMode = found.userAgent = undefined;
  if ((request as { joinDuplicateHeaders?: boolean }).joinDuplicateHeaders) {
    const headers = request.headers;
    found.ifNoneMatch = headers['if-none-match'];
    found.ifModifiedSince = headers['if-modified-since'];
    found.acceptEncoding = headers['accept-encoding'];
    found.secFetchMode = headers['sec-fetch-mode'] as string | undefined;
    found.userAgent = headers['user-agent'];
    return found;
  }
  const raw = request.rawHeaders;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index]!;
    const value = raw[index + 1]!;
    switch (name.length) {
      case 13:
        if (isNamed(name, 'if-none-match', 'If-None-Match'))
          found.ifNoneMatch = found.ifNoneMatch === undefined ? value : `${found.ifNoneMatch}, ${value}`;
        break;
      case 17:
        if (found.ifModifiedSince === undefined && isNamed(name, 'if-modified-since', 'If-Modified-Since')) found.ifModifiedSince = value;
        break;
      case 15:
        if (isNamed(name, 'accept-encoding', 'Accept-Encoding'))
          found.acceptEncoding = found.acceptEncoding === undefined ? value : `${found.acceptEncoding}, ${value}`;
        break;
      case 14:
        if (isNamed(name, 'sec-fetch-mode', 'Sec-Fetch-Mode'))
          found.secFetchMode = found.secFetchMode === undefined ? value : `${found.secFetchMode}, ${value}`;
        break;
      case 10:
        if (found.userAgent === undefined && isNamed(name, 'user-agent', 'User-Agent')) found.userAgent = value;
        break;
    }
  }
  return found;
}

/** A raw header name, as its usual spellings first (no string made), then in any case. */
function isNamed(name: string, lower: string, title: string): boolean {
  return name === lower || name === title || name.toLowerCase() === lower;
}

/** The public limit's key of a token's feed, made once per entry. */
function limitKeyOf(entry: PublishedEntry): string {
  return (entry.limitKey ??= `${entry.target.feedId}:${entry.target.tokenId}`);
}
