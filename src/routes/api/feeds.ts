// /api/v1/feeds: merged feeds and their public URLs.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { entryDate } from '../../model.js';
import { plainTextOf } from '../../text.js';
import {
  createFeed,
  createFeedToken,
  deleteFeed,
  feedUsage,
  getOwnedFeedOrThrow,
  MAX_AGE_DAYS,
  MAX_FEED_LIMIT,
  previewFeed,
  revokeFeedToken,
  rotateFeed,
  tokensOf,
  updateFeed,
} from '../../services/feeds.js';
import { withHeavySlot } from '../../services/heavy-work.js';
import { ErrorSchema, FeedSchema, FeedTokenSchema, IdParams, errorResponses, feedTokenView, feedView } from './views.js';

const Rules = Type.Array(Type.String({ maxLength: 256 }), {
  maxItems: 50,
  description: 'Keywords (case-insensitive) or /regex/flags (RE2 syntax, linear time)',
});
const FeedBody = {
  title: Type.String({ minLength: 1, maxLength: 300 }),
  sources: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 1000, description: 'Source ids' }),
  include: Type.Optional(Rules),
  exclude: Type.Optional(Rules),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_FEED_LIMIT, description: 'Entries published, newest first (default 50)' })),
  options: Type.Optional(
    Type.Object(
      {
        prefixSourceTitle: Type.Optional(Type.Boolean({ description: 'Entry titles read "Source: title" (default false)' })),
        summaryOnly: Type.Optional(Type.Boolean({ description: 'Leave full content out, keep or derive a summary (default false)' })),
        maxAgeDays: Type.Optional(
          Type.Integer({
            minimum: 0,
            maximum: MAX_AGE_DAYS,
            description: 'Leave out entries older than this many days (default 0: any age)',
          }),
        ),
        sourceInfo: Type.Optional(Type.Boolean({ description: "Name each entry's source in the feed (default true)" })),
      },
      { additionalProperties: false },
    ),
  ),
};
const CreateFeedBody = Type.Object(FeedBody, { additionalProperties: false });
const UpdateFeedBody = Type.Partial(CreateFeedBody, { additionalProperties: false });
const PreviewBody = Type.Object({ ...FeedBody, title: Type.Optional(FeedBody.title) }, { additionalProperties: false });
const PreviewEntrySchema = Type.Object({
  id: Type.String(),
  title: Type.Optional(Type.String()),
  link: Type.Optional(Type.String()),
  published: Type.String({ format: 'date-time', description: 'The date the entry sorts by' }),
  summary: Type.Optional(Type.String({ description: 'Plain text, at most 300 characters' })),
  source: Type.Object({ id: Type.String(), title: Type.String() }),
});
const TokenParams = Type.Object({ id: IdParams.properties.id, tokenId: Type.String({ minLength: 1, maxLength: 64 }) });
const CountsSchema = { requests: Type.Integer(), notModified: Type.Integer({ description: '304 answers' }) };
const StatsSchema = Type.Object({
  feedId: Type.String(),
  totals: Type.Object({ ...CountsSchema, subscribers: Type.Integer() }),
  tokens: Type.Array(
    Type.Object({
      id: Type.String(),
      name: Type.String(),
      ...CountsSchema,
      lastSeenAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
      subscribers: Type.Integer({ description: 'Sum of the counts readers reported in their User-Agent in the last 7 days' }),
      readers: Type.Array(
        Type.Object({ reader: Type.String(), subscribers: Type.Integer(), lastSeenAt: Type.String({ format: 'date-time' }) }),
      ),
    }),
  ),
  days: Type.Array(Type.Object({ date: Type.String({ description: 'YYYY-MM-DD (UTC)' }), ...CountsSchema }), {
    description: 'The last 30 days, oldest first',
  }),
});

export const feedRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app;
  const tags = ['feeds'];
  const view = (feed: Parameters<typeof feedView>[0]) => feedView(feed, deps.config.publicUrl);

  app.post(
    '/feeds',
    {
      schema: {
        tags,
        summary: 'Create a merged feed; its public URLs are in `urls`',
        body: CreateFeedBody,
        response: { 201: FeedSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.code(201).send(view(await withHeavySlot(deps, request.userId, () => createFeed(deps, request.userId, request.body)))),
  );

  app.get(
    '/feeds',
    {
      schema: {
        tags,
        summary: "List the user's feeds",
        response: { 200: Type.Object({ feeds: Type.Array(FeedSchema) }), 401: ErrorSchema },
      },
    },
    async (request) => {
      const feeds = await deps.registry.listFeeds(request.userId);
      feeds.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
      return { feeds: feeds.map(view) };
    },
  );

  app.get(
    '/feeds/:id',
    { schema: { tags, summary: 'One feed', params: IdParams, response: { 200: FeedSchema, ...errorResponses } } },
    async (request) => view(await getOwnedFeedOrThrow(deps, request.userId, request.params.id)),
  );

  app.patch(
    '/feeds/:id',
    {
      schema: {
        tags,
        summary: 'Edit a feed; its public URLs stay the same',
        params: IdParams,
        body: UpdateFeedBody,
        response: { 200: FeedSchema, ...errorResponses },
      },
    },
    async (request) =>
      view(await withHeavySlot(deps, request.userId, () => updateFeed(deps, request.userId, request.params.id, request.body))),
  );

  app.delete(
    '/feeds/:id',
    {
      schema: {
        tags,
        summary: 'Delete a feed; its public URLs answer 404',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await deleteFeed(deps, request.userId, request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/feeds/:id/rotate',
    {
      schema: {
        tags,
        summary: 'New public URLs; the old ones answer 404 from now on',
        params: IdParams,
        response: { 200: FeedSchema, ...errorResponses },
      },
    },
    async (request) => view(await rotateFeed(deps, request.userId, request.params.id)),
  );

  app.post(
    '/feeds/preview',
    {
      schema: {
        tags,
        summary: 'The first entries a feed with these settings would publish now; nothing is stored',
        body: PreviewBody,
        response: { 200: Type.Object({ entries: Type.Array(PreviewEntrySchema) }), ...errorResponses },
      },
    },
    async (request) => {
      const { sources, entries } = await withHeavySlot(deps, request.userId, () => previewFeed(deps, request.userId, request.body));
      const titles = new Map(sources.map((source) => [source.id, source.title]));
      return {
        entries: entries.map((entry) => ({
          id: entry.id,
          ...(entry.title !== undefined ? { title: entry.title } : {}),
          ...(entry.link !== undefined ? { link: entry.link } : {}),
          published: entryDate(entry).toISOString(),
          ...((entry.summary ?? entry.content)
            ? { summary: [...plainTextOf(entry.summary ?? entry.content ?? '')].slice(0, 300).join('') }
            : {}),
          source: { id: entry.sourceId, title: titles.get(entry.sourceId) ?? '' },
        })),
      };
    },
  );

  app.get(
    '/feeds/:id/tokens',
    {
      schema: {
        tags,
        summary: "The feed's public URLs: the default one first, then one per named subscriber",
        params: IdParams,
        response: { 200: Type.Object({ tokens: Type.Array(FeedTokenSchema) }), ...errorResponses },
      },
    },
    async (request) => ({
      tokens: tokensOf(await getOwnedFeedOrThrow(deps, request.userId, request.params.id)).map((token) =>
        feedTokenView(token, deps.config.publicUrl),
      ),
    }),
  );

  app.post(
    '/feeds/:id/tokens',
    {
      schema: {
        tags,
        summary: 'A named public URL for one reader ("phone", "work"), revocable on its own',
        params: IdParams,
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
        response: { 201: FeedTokenSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(feedTokenView(await createFeedToken(deps, request.userId, request.params.id, request.body.name), deps.config.publicUrl)),
  );

  app.delete(
    '/feeds/:id/tokens/:tokenId',
    {
      schema: {
        tags,
        summary: "Revoke a subscriber URL: it answers 404 from now on, the feed's other URLs keep working",
        params: TokenParams,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await revokeFeedToken(deps, request.userId, request.params.id, request.params.tokenId);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/feeds/:id/stats',
    {
      schema: {
        tags,
        summary: 'Requests, 304s, last seen and reader-reported subscribers per public URL; no IP addresses are kept',
        params: IdParams,
        response: { 200: StatsSchema, ...errorResponses },
      },
    },
    async (request) => ({ feedId: request.params.id, ...(await feedUsage(deps, request.userId, request.params.id)) }),
  );
};
