// GET|HEAD /<token>.atom|.rss|.json — the public, unauthenticated feed URLs readers poll.
// A GET reads stored bytes: it never fetches an upstream and never re-renders. Each token of a feed
// (the default one and every named subscriber URL) is counted apart for GET /api/v1/feeds/:id/stats.
//
// Readers poll all day and nearly every poll is a conditional GET of a feed that has not changed,
// so a poll is answered from this instance's memory (publish/published-cache.ts, invalidated
// exactly by the store) and everything else it costs is made once: the headers of an answer
// (security headers, CORS, validators) per document, the bytes per document and coding.
// Compression and the global rate limiter never run on this route (app.ts registers it before
// them), and the security-header hook skips it, because it sets what they would, from memory
// (BENCHMARKS.md, diagnosis 1).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger } from 'fastify';
import { Type } from 'typebox';
import { NotFoundError, RateLimitedError, withRetryAfter } from '../errors.js';
import { HELMET_HEADERS } from '../http-security.js';
import { parseFeedFile } from '../publish/public-paths.js';
import { createPublishedCache, type PublishedEntry } from '../publish/published-cache.js';
import { createPublicLimit } from './public-limit.js';
import { isBrowserNavigation, sendFeedPage } from './browser-view.js';
import { chooseCoding, createEncodedBodyCache } from './encoded-bodies.js';

/** Ready-to-send bytes (identity, gzip, br) of recent documents, all tokens together. */
const ENCODED_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * What @fastify/cors (origin `*`), helmet and the onSend hook of http-security.ts answered on this
 * route, in their order: feed readers that run in a browser read the feeds cross-origin, and a page
 * elsewhere may embed them (cross-origin-resource-policy).
 */
const CORS_HEADERS = { vary: 'Origin', 'access-control-allow-origin': '*' } as const;
const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  ...HELMET_HEADERS,
  'cross-origin-resource-policy': 'cross-origin',
});

type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildLoggerOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>;

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

export const publicFeedRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { stats, config } = app.deps;
  const cache = await createPublishedCache(app.deps);
  const encoded = createEncodedBodyCache(ENCODED_CACHE_BYTES);
  // On Redis, N instances enforce one budget (counts shared in batches: public-limit.ts).
  const shared = /^rediss?:/.test(config.store) ? app.deps.registry.publicLimitCounts : undefined;
  const limit = createPublicLimit(config.limits.publicRequestsPerMinute, Date.now, shared);
  const reads = app.deps.metrics.publicFeedReads;
  const cacheControl = `public, max-age=${config.feeds.maxAgeSeconds}`;
  app.addHook('onClose', async () => {
    await limit.close();
    await cache.close();
  });

  /** Every header of an answer from `entry` (200, 304 and HEAD alike), after the rate-limit ones. */
  const headersOf = (entry: PublishedEntry): Readonly<Record<string, string>> =>
    (entry.headers ??= Object.freeze({
      ...SECURITY_HEADERS,
      // Readers get identity, gzip or br bytes; a browser navigation to Atom or RSS gets a page
      // instead (browser-view.ts); a 304 names the same variance as the 200 it stands for.
      vary: entry.format === 'json' ? 'Origin, Accept-Encoding' : 'Origin, Sec-Fetch-Mode, Accept-Encoding',
      etag: entry.head.etag,
      'last-modified': entry.head.lastModified,
      'cache-control': cacheControl,
      'content-type': entry.head.contentType,
    }));

  app.get(
    '/:file',
    {
      // Readers poll all day: two info lines per GET would dominate the log and cost half the
      // throughput of a 304 (BENCHMARKS.md, bench 1b). Errors still log.
      logLevel: PUBLIC_LOG_LEVEL,
      childLoggerFactory: (logger, bindings, options) => new LazyChildLogger(logger, bindings, options) as unknown as FastifyBaseLogger,
      // Compression, helmet's, CORS's and the rate limit's headers are made here, from memory:
      // compression and the API's limiter never see this route (app.ts); the security-header hook
      // and CORS skip it by this flag and `cors: false`.
      config: { publicFeed: true, cors: false },
      schema: {
        tags: ['public feeds'],
        summary: 'A published feed (Atom 1.0, RSS 2.0 or JSON Feed 1.1); no authentication',
        security: [],
        params: Type.Object({ file: Type.String({ description: '<token>.atom, <token>.rss or <token>.json' }) }),
      },
    },
    async (request, reply) => {
      const { file } = request.params;
      let entry = cache.get(file);
      if (entry !== undefined) reads.memory += 1;
      else {
        const parsed = parseFeedFile(file);
        entry = parsed && (await cache.load(file, parsed.token, parsed.format));
        reads.store += 1;
      }
      const allowed = limit.take(request.ip, entry && `${entry.target.feedId}:${entry.target.tokenId}`);
      reply
        .headers(CORS_HEADERS)
        .header('x-ratelimit-limit', allowed.limit)
        .header('x-ratelimit-remaining', allowed.remaining)
        .header('x-ratelimit-reset', allowed.resetSeconds);
      if (!allowed.allowed) {
        reply.headers(SECURITY_HEADERS);
        throw withRetryAfter(
          new RateLimitedError(
            `at most ${allowed.limit} a minute from this address for this feed; retry in ${allowed.resetSeconds} seconds`,
          ),
          allowed.resetSeconds * 1000,
        );
      }
      if (entry === undefined) {
        reply.headers(SECURITY_HEADERS);
        throw new NotFoundError('Feed');
      }
      // A browser navigating here is shown the feed page (browser-view.ts); readers get the bytes below.
      if (entry.format !== 'json' && isBrowserNavigation(request.headers)) {
        reply.headers(SECURITY_HEADERS);
        if (await sendFeedPage(app.deps, reply, entry.token)) return reply;
      }

      reply.headers(headersOf(entry));
      const notModified = isNotModified(
        request.headers['if-none-match'],
        request.headers['if-modified-since'],
        entry.head.etag,
        entry.head.lastModified,
      );
      stats.record({
        feedId: entry.target.feedId,
        tokenId: entry.target.tokenId,
        notModified,
        userAgent: request.headers['user-agent'],
        at: app.deps.now(),
      });
      if (notModified) return reply.code(304).send();

      if (entry.storedChars !== undefined) {
        const coding = chooseCoding(request.headers['accept-encoding'], entry.storedChars);
        const kept = entry.bytes.get(coding);
        if (kept !== undefined) {
          if (coding !== 'identity') reply.header('content-encoding', coding);
          return reply.send(kept);
        }
      }
      const document = await cache.document(entry);
      if (!document) throw new NotFoundError('Feed');
      // A rebuild may have landed between the two reads: send the body with its own tag.
      if (document.etag !== entry.head.etag) reply.header('etag', document.etag);
      const coding = chooseCoding(request.headers['accept-encoding'], document.storedChars);
      if (coding !== 'identity') reply.header('content-encoding', coding);
      const bytes = await encoded.get(document.etag, document.body, coding);
      if (document.etag === entry.head.etag) {
        entry.storedChars = document.storedChars;
        cache.keepBytes(entry, coding, bytes);
      }
      return reply.send(bytes);
    },
  );
};

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
