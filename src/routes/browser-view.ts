// Browser view of public feeds (issue 8): the XSL stylesheet our Atom and RSS documents name, its
// CSS, the /f/<token> discovery page, and the page a browser is shown when it navigates to an Atom
// or RSS URL (public-feeds.ts asks isBrowserNavigation). Readers always get the feed's own bytes.
import { strongEtag } from '../publish/strong-etag.js';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import { Type } from 'typebox';
import { NotFoundError } from '../errors.js';
import { PUBLIC_TOKEN } from '../publish/public-paths.js';
import { findPublishedFeed, readPublished, readPublishedHead } from '../publish/published.js';
import { publicUrlsOf } from '../publish/public-urls.js';
import { renderFeedPage } from '../render/feed-page.js';
import { FEED_CSS } from './browser-view/feed-css.js';
import { FEED_XSL } from './browser-view/feed-xsl.js';

/** The assets change only with a release: a day in every cache, then a cheap 304. */
const ASSET_CACHE_CONTROL = 'public, max-age=86400';

interface Asset {
  body: string;
  contentType: string;
  etag: string;
}

const asset = (body: string, contentType: string): Asset => ({
  body,
  contentType,
  etag: strongEtag(body),
});
const ASSETS: Record<'/feed.xsl' | '/feed.css', Asset> = {
  // application/xslt+xml is the registered type; Firefox and Safari take text/xsl too, and older
  // engines only that one.
  '/feed.xsl': asset(FEED_XSL, 'text/xsl; charset=utf-8'),
  '/feed.css': asset(FEED_CSS, 'text/css; charset=utf-8'),
};

export const browserViewRoutes: FastifyPluginAsyncTypebox = async (app) => {
  for (const [path, { body, contentType, etag }] of Object.entries(ASSETS)) {
    app.get(path, { logLevel: 'warn', schema: { hide: true } }, async (request, reply) => {
      reply.header('etag', etag).header('cache-control', ASSET_CACHE_CONTROL).type(contentType);
      if (matchesEtag(request.headers['if-none-match'], etag)) return reply.code(304).send();
      return reply.send(body);
    });
  }

  app.get(
    '/f/:token',
    {
      schema: {
        tags: ['public feeds'],
        summary:
          'HTML page of a published feed: its title, entries and the three feed URLs (with <link rel="alternate">); no authentication',
        security: [],
        params: Type.Object({ token: Type.String() }),
      },
    },
    async (request, reply) => {
      const { token } = request.params;
      const page = PUBLIC_TOKEN.test(token) ? await feedPage(app.deps, token, '../feed.css') : undefined;
      if (page === undefined) throw new NotFoundError('Feed');
      // Revoking a token must take its page down at once: always revalidate.
      return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(page);
    },
  );
};

/** Media types a feed reader asks for; a browser's navigation names none of them. */
const FEED_TYPES = /application\/(atom\+xml|rss\+xml|rdf\+xml|feed\+json|json)|text\/xml/i;

/**
 * A browser's top-level navigation (Fetch Metadata: Sec-Fetch-Mode is set by browsers only and
 * cannot be set by a page's script) asking for HTML first and for no feed type. Feed readers, web
 * readers' fetch() calls and scripts never match, so their bytes never depend on this.
 */
export function isBrowserNavigation(headers: IncomingHttpHeaders): boolean {
  const accept = headers.accept ?? '';
  return headers['sec-fetch-mode'] === 'navigate' && /^\s*text\/html\b/i.test(accept) && !FEED_TYPES.test(accept);
}

/**
 * Answers a browser navigation to `token`'s Atom or RSS URL with the feed page, because browsers
 * without XSLT (Chromium since version 155) would show raw XML. The page is never stored by a
 * cache (no-store), and Vary names what chose it, so no cache hands it to a reader.
 */
/**
 * Sends the feed page for `token`; false when the token opens nothing. (A boolean, not the reply:
 * a FastifyReply is thenable, so an async function returning it would resolve to undefined.)
 */
export async function sendFeedPage(deps: FeedPageDeps, reply: FastifyReply, token: string): Promise<boolean> {
  const page = await feedPage(deps, token, 'feed.css');
  if (page === undefined) return false;
  appendVary(reply, 'Accept, Sec-Fetch-Mode');
  reply.header('cache-control', 'private, no-store').type('text/html; charset=utf-8').send(page);
  return true;
}

/** For the feed bytes at a URL that may also answer a browser navigation with a page. */
export function appendVary(reply: FastifyReply, fields: string): void {
  const existing = reply.getHeader('vary');
  reply.header('vary', existing === undefined ? fields : `${String(existing)}, ${fields}`);
}

/** RFC 9110 §13.1.2, weak comparison. */
function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  return ifNoneMatch !== undefined && ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

type FeedPageDeps = Parameters<typeof readPublished>[0];

/**
 * Pages made lately, by token and stylesheet, each with the tag of the document it was made from: a
 * page is made once a document, not once a request (a large feed's page read and rendered its 1.6 MB
 * JSON document each time: 12 ms, against 1 for a poll, at up to 1,200 a minute from one address).
 * The token is looked up before the cache is, so a revoked or rotated one answers 404 at once.
 */
const MAX_PAGE_CACHE_CHARACTERS = 4 * 1024 * 1024;
const pageCaches = new WeakMap<object, Map<string, { etag: string; page: string }>>();

async function feedPage(deps: FeedPageDeps, token: string, styleHref: string): Promise<string | undefined> {
  const target = await findPublishedFeed(deps, token);
  const head = target && (await readPublishedHead(deps, target, token, 'json'));
  if (!target || !head) return undefined;
  let pages = pageCaches.get(deps.registry);
  if (!pages) pageCaches.set(deps.registry, (pages = new Map()));
  const key = `${styleHref}\n${token}`;
  const made = pages.get(key);
  if (made?.etag === head.etag) return made.page;
  const document = await readPublished(deps, target, 'json', token);
  if (!document) return undefined;
  const page = renderFeedPage(document.body, { feeds: publicUrlsOf(deps.config.publicUrl, token), styleHref });
  pages.delete(key);
  pages.set(key, { etag: document.etag, page });
  // Oldest first, until the pages kept fit (a page alone larger than the bound is kept alone).
  let characters = 0;
  for (const kept of pages.values()) characters += kept.page.length;
  for (const [oldKey, kept] of pages) {
    if (characters <= MAX_PAGE_CACHE_CHARACTERS || oldKey === key) break;
    pages.delete(oldKey);
    characters -= kept.page.length;
  }
  return page;
}
