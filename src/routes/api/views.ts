// What the API shows of stored records, and the schemas that document and enforce it: a response
// schema is also a filter, so a sealed field added to a record can never leak through the API.
import { Type, type Static } from 'typebox';
import type { CachedEntry } from '../../model.js';
import { maskUrl } from '../../secrets/scrub.js';
import { feedOptionsOf } from '../../pipeline/feed-options.js';
import { pageUrlOf, publicUrlsOf } from '../../publish/public-urls.js';
import type { FeedToken } from '../../services/feeds.js';
import type { FeedRecord, SourceRecord } from '../../model.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);
const Time = Type.String({ format: 'date-time' });

export const ErrorSchema = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String({ description: 'Stable error code, e.g. FP_NOT_A_FEED; every code, its status and what to do: docs/errors.md' }),
  message: Type.String(),
  id: Type.Optional(Type.String({ description: 'On a 409 for a duplicate source: the id of the source the user already has' })),
});

export const SourceSchema = Type.Object({
  id: Type.String(),
  title: Type.String(),
  url: Type.String({ description: 'The upstream URL with every query value masked' }),
  connectionId: Nullable(Type.String()),
  refreshMinutes: Type.Integer(),
  status: Type.Union([
    Type.Literal('new'),
    Type.Literal('ok'),
    Type.Literal('stale'),
    Type.Literal('failing'),
    Type.Literal('disabled'),
    Type.Literal('unauthorized'),
  ]),
  lastError: Nullable(Type.String()),
  errorCount: Type.Integer(),
  lastFetchedAt: Nullable(Time),
  lastSuccessAt: Nullable(Time),
  nextFetchAt: Time,
  retryAfterUntil: Nullable(Time),
  siteUrl: Nullable(Type.String()),
  entryCount: Type.Integer(),
  createdAt: Time,
  updatedAt: Time,
});
export type SourceView = Static<typeof SourceSchema>;

export function sourceView(source: SourceRecord): SourceView {
  return {
    id: source.id,
    title: source.title,
    // Masked again: a record stored under older rules may still show a token in its path.
    url: maskUrl(source.urlMasked),
    connectionId: source.connectionId ?? null,
    refreshMinutes: source.refreshMinutes,
    status: source.status,
    lastError: source.lastError ?? null,
    errorCount: source.errorCount,
    lastFetchedAt: source.lastFetchedAt ?? null,
    lastSuccessAt: source.lastSuccessAt ?? null,
    nextFetchAt: source.nextFetchAt,
    retryAfterUntil: source.retryAfterUntil ?? null,
    siteUrl: source.siteUrl ? maskUrl(source.siteUrl) : null,
    entryCount: source.entryCount,
    createdAt: source.createdAt,
    updatedAt: source.updatedAt,
  };
}

const PersonSchema = Type.Object({
  name: Type.Optional(Type.String()),
  email: Type.Optional(Type.String()),
  url: Type.Optional(Type.String()),
});
export const ItemSchema = Type.Object({
  id: Type.String(),
  title: Type.Optional(Type.String()),
  link: Type.Optional(Type.String()),
  published: Type.Optional(Type.String()),
  updated: Type.Optional(Type.String()),
  authors: Type.Array(PersonSchema),
  summary: Type.Optional(Type.String()),
  content: Type.Optional(Type.String()),
  categories: Type.Array(Type.String()),
  enclosures: Type.Array(Type.Object({ url: Type.String(), type: Type.Optional(Type.String()), length: Type.Optional(Type.Number()) })),
  image: Type.Optional(Type.String()),
  firstSeenAt: Time,
});

export function itemView(entry: CachedEntry): Static<typeof ItemSchema> {
  const { sourceId: _sourceId, goneSince: _goneSince, canonicalLink: _canonicalLink, fingerprint: _fingerprint, ...item } = entry;
  return item;
}

const UrlsSchema = Type.Object({
  atom: Type.String(),
  rss: Type.String(),
  json: Type.String(),
  page: Type.String({ description: 'An HTML page that links the three formats (for a reader given the bare URL, or a person)' }),
});

export function urlsOf(publicUrl: string, token: string): Static<typeof UrlsSchema> {
  return { ...publicUrlsOf(publicUrl, token), page: pageUrlOf(publicUrl, token) };
}

export const FeedTokenSchema = Type.Object({ id: Type.String(), name: Type.String(), urls: UrlsSchema, createdAt: Time });

export function feedTokenView(token: FeedToken, publicUrl: string): Static<typeof FeedTokenSchema> {
  return { id: token.id, name: token.name, urls: urlsOf(publicUrl, token.token), createdAt: token.createdAt };
}

export const FeedSchema = Type.Object({
  id: Type.String(),
  title: Type.String(),
  sources: Type.Array(Type.String()),
  include: Type.Array(Type.String()),
  exclude: Type.Array(Type.String()),
  limit: Type.Integer(),
  options: Type.Object({
    prefixSourceTitle: Type.Boolean({ description: 'Entry titles read "Source: title"' }),
    summaryOnly: Type.Boolean({ description: 'Full content left out; a summary kept or derived from it' }),
    maxAgeDays: Type.Integer({ description: 'Entries older than this many days are left out; 0: any age' }),
    sourceInfo: Type.Boolean({ description: 'Each entry names its source (JSON Feed `_feedproxy.source`, Atom/RSS `<source>`)' }),
  }),
  urls: UrlsSchema,
  createdAt: Time,
  updatedAt: Time,
});

export function feedView(feed: FeedRecord, publicUrl: string): Static<typeof FeedSchema> {
  return {
    id: feed.id,
    title: feed.title,
    sources: feed.sourceIds,
    include: feed.include,
    exclude: feed.exclude,
    limit: feed.limit,
    options: feedOptionsOf(feed.options),
    urls: urlsOf(publicUrl, feed.publicToken),
    createdAt: feed.createdAt,
    updatedAt: feed.updatedAt,
  };
}

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
export const errorResponses = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };
