// GET|HEAD /<token>.atom|.rss|.json — the public, unauthenticated feed URLs readers poll.
// A GET reads stored bytes: it never fetches an upstream and never re-renders. Each token of a feed
// (the default one and every named subscriber URL) is counted apart for GET /api/v1/feeds/:id/stats.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { NotFoundError } from '../errors.js';
import { HELMET_HEADERS } from '../http-security.js';
import { parseFeedFile } from '../publish/public-paths.js';
import { documentForToken, findPublishedFeed, readPublishedHead, readStoredDocument, type StoredDocument } from '../publish/published.js';
import { appendVary, isBrowserNavigation, sendFeedPage } from './browser-view.js';
import { chooseCoding, createEncodedBodyCache } from './encoded-bodies.js';

/** Stored documents by ETag: content-addressed, so an entry can never be stale, only evicted. */
const BODY_CACHE_LIMIT = 128;
/** And at most this many characters of them in all: a few large feeds must not hold the memory. */
const BODY_CACHE_CHARS = 32 * 1024 * 1024;
/** Ready-to-send bytes (identity, gzip, br) of recent documents, all tokens together. */
const ENCODED_CACHE_BYTES = 32 * 1024 * 1024;

export const publicFeedRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { stats, config } = app.deps;
  const bodies = new Map<string, StoredDocument>();
  let cachedChars = 0;
  const encoded = createEncodedBodyCache(ENCODED_CACHE_BYTES);

  app.get(
    '/:file',
    {
      // Readers poll all day: two info lines per GET would dominate the log and cost half the
      // throughput of a 304 (BENCHMARKS.md, bench 1b). Errors still log.
      logLevel: 'warn',
      // Compressed once per document by encoded-bodies.ts, not per request by @fastify/compress.
      compress: false,
      // helmet's headers are the same for every request: set below in one call, not by its hook.
      helmet: false,
      schema: {
        tags: ['public feeds'],
        summary: 'A published feed (Atom 1.0, RSS 2.0 or JSON Feed 1.1); no authentication',
        security: [],
        params: Type.Object({ file: Type.String({ description: '<token>.atom, <token>.rss or <token>.json' }) }),
      },
    },
    async (request, reply) => {
      reply.headers(HELMET_HEADERS);
      const file = parseFeedFile(request.params.file);
      if (!file) throw new NotFoundError('Feed');
      const { token, format } = file;
      const target = await findPublishedFeed(app.deps, token);
      const head = target && (await readPublishedHead(app.deps, target, token, format));
      if (!target || !head) throw new NotFoundError('Feed');
      if (format !== 'json') {
        // A browser navigating here is shown the feed page (browser-view.ts); readers get the bytes below.
        if (isBrowserNavigation(request.headers) && (await sendFeedPage(app.deps, reply, token))) return reply;
        appendVary(reply, 'Sec-Fetch-Mode');
      }

      reply
        .header('etag', head.etag)
        .header('last-modified', head.lastModified)
        .header('cache-control', `public, max-age=${config.feeds.maxAgeSeconds}`)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .type(head.contentType);
      // Readers get identity, gzip or br bytes; a 304 names the same variance as the 200 it stands for.
      appendVary(reply, 'Accept-Encoding');
      const notModified = isNotModified(request.headers['if-none-match'], request.headers['if-modified-since'], head.etag, head.lastModified);
      stats.record({ feedId: target.feedId, tokenId: target.tokenId, notModified, userAgent: request.headers['user-agent'], at: app.deps.now() });
      if (notModified) return reply.code(304).send();

      // Stored bytes by their tag: content-addressed, so never stale; one copy serves every token.
      let stored = bodies.get(head.storedEtag);
      if (stored === undefined) {
        stored = await readStoredDocument(app.deps, target.feedId, format);
        if (!stored) throw new NotFoundError('Feed');
        while (bodies.size > 0 && (bodies.size >= BODY_CACHE_LIMIT || cachedChars + stored.body.length > BODY_CACHE_CHARS)) {
          const [oldest, evicted] = bodies.entries().next().value!;
          bodies.delete(oldest);
          cachedChars -= evicted.body.length;
        }
        if (stored.body.length <= BODY_CACHE_CHARS && !bodies.has(stored.etag)) {
          bodies.set(stored.etag, stored);
          cachedChars += stored.body.length;
        }
      }
      const document = documentForToken(stored, target, token);
      if (!document) throw new NotFoundError('Feed');
      // A rebuild may have landed between the two reads: send the body with its own tag.
      if (document.etag !== head.etag) reply.header('etag', document.etag);
      const coding = chooseCoding(request.headers['accept-encoding'], stored.body.length);
      if (coding !== 'identity') reply.header('content-encoding', coding);
      return reply.send(await encoded.get(document.etag, document.body, coding));
    },
  );
};

/**
 * RFC 9110 §13.1.2: If-None-Match uses the weak comparison and, when present, decides alone
 * (§13.2.2 — If-Modified-Since is ignored then); §13.1.3: If-Modified-Since compares at one-second
 * resolution against Last-Modified.
 */
export function isNotModified(ifNoneMatch: string | undefined, ifModifiedSince: string | undefined, etag: string, lastModified: string): boolean {
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() === '*') return true;
    const opaque = etag.replace(/^W\//, '');
    return ifNoneMatch.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === opaque);
  }
  if (ifModifiedSince !== undefined) {
    const since = Date.parse(ifModifiedSince);
    const modified = Date.parse(lastModified);
    return !Number.isNaN(since) && !Number.isNaN(modified) && modified <= since;
  }
  return false;
}
