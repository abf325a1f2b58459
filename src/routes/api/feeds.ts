// /api/v1/feeds: merged feeds and their public URLs.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { createFeed, deleteFeed, getOwnedFeedOrThrow, MAX_FEED_LIMIT, rotateFeed, updateFeed } from '../../services/feeds.js';
import { ErrorSchema, FeedSchema, IdParams, errorResponses, feedView } from './views.js';

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
};
const CreateFeedBody = Type.Object(FeedBody, { additionalProperties: false });
const UpdateFeedBody = Type.Partial(CreateFeedBody, { additionalProperties: false });

export const feedRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app;
  const tags = ['feeds'];
  const view = (feed: Parameters<typeof feedView>[0]) => feedView(feed, deps.config.publicUrl);

  app.post(
    '/feeds',
    { schema: { tags, summary: 'Create a merged feed; its public URLs are in `urls`', body: CreateFeedBody, response: { 201: FeedSchema, ...errorResponses } } },
    async (request, reply) => reply.code(201).send(view(await createFeed(deps, request.userId, request.body))),
  );

  app.get(
    '/feeds',
    { schema: { tags, summary: "List the user's feeds", response: { 200: Type.Object({ feeds: Type.Array(FeedSchema) }), 401: ErrorSchema } } },
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
    { schema: { tags, summary: 'Edit a feed; its public URLs stay the same', params: IdParams, body: UpdateFeedBody, response: { 200: FeedSchema, ...errorResponses } } },
    async (request) => view(await updateFeed(deps, request.userId, request.params.id, request.body)),
  );

  app.delete(
    '/feeds/:id',
    { schema: { tags, summary: 'Delete a feed; its public URLs answer 404', params: IdParams, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await deleteFeed(deps, request.userId, request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/feeds/:id/rotate',
    { schema: { tags, summary: 'New public URLs; the old ones answer 404 from now on', params: IdParams, response: { 200: FeedSchema, ...errorResponses } } },
    async (request) => view(await rotateFeed(deps, request.userId, request.params.id)),
  );
};
