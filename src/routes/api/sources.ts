// /api/v1/sources: a user's private feed sources.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { refreshSource } from '../../refresh/refresh-source.js';
import { withHeavySlot } from '../../services/heavy-work.js';
import { createSource, deleteSource, getOwnedSourceOrThrow, updateSource } from '../../services/sources.js';
import { ErrorSchema, IdParams, ItemSchema, SourceSchema, errorResponses, itemView, sourceView } from './views.js';

const MarkedSecrets = Type.Array(Type.String({ minLength: 6, maxLength: 512 }), {
  maxItems: 20,
  description:
    'Values to treat as secret beyond what feedproxy recognises (README "Secrets in the path"): masked, scrubbed, stored sealed, never shown again. Added to what the source keeps',
});
const CreateSourceBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 4096, description: 'Feed or web page URL; its query (feed_token…) is stored sealed' }),
    title: Type.Optional(Type.String({ maxLength: 300 })),
    refreshMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440 })),
    connectionId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    secrets: Type.Optional(MarkedSecrets),
  },
  { additionalProperties: false },
);
const UpdateSourceBody = Type.Object(
  {
    url: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    title: Type.Optional(Type.String({ maxLength: 300 })),
    refreshMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440 })),
    secrets: Type.Optional(MarkedSecrets),
  },
  { additionalProperties: false },
);

export const sourceRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app;
  const tags = ['sources'];

  app.post(
    '/sources',
    {
      schema: {
        tags,
        summary: 'Add a source: fetched once before the answer; nothing is stored if that fails',
        body: CreateSourceBody,
        response: { 201: SourceSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.code(201).send(sourceView(await withHeavySlot(deps, request.userId, () => createSource(deps, request.userId, request.body)))),
  );

  app.get(
    '/sources',
    {
      schema: {
        tags,
        summary: "List the user's sources, oldest first",
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1 })) }),
        response: { 200: Type.Object({ sources: Type.Array(SourceSchema) }), 401: ErrorSchema },
      },
    },
    async (request) => {
      const sources = await deps.registry.listSources(request.userId);
      sources.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
      return { sources: sources.slice(0, request.query.limit ?? sources.length).map(sourceView) };
    },
  );

  app.get(
    '/sources/:id',
    { schema: { tags, summary: 'One source', params: IdParams, response: { 200: SourceSchema, ...errorResponses } } },
    async (request) => sourceView(await getOwnedSourceOrThrow(deps, request.userId, request.params.id)),
  );

  app.patch(
    '/sources/:id',
    {
      schema: {
        tags,
        summary: 'Edit a source; a new url is fetched first, and an edit re-enables a disabled or unauthorized source',
        params: IdParams,
        body: UpdateSourceBody,
        response: { 200: SourceSchema, ...errorResponses },
      },
    },
    async (request) =>
      sourceView(await withHeavySlot(deps, request.userId, () => updateSource(deps, request.userId, request.params.id, request.body))),
  );

  app.delete(
    '/sources/:id',
    {
      schema: {
        tags,
        summary: 'Delete a source and remove it from its feeds',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await deleteSource(deps, request.userId, request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/sources/:id/items',
    {
      schema: {
        tags,
        summary: 'The cached entries of a source, newest first',
        params: IdParams,
        response: { 200: Type.Object({ items: Type.Array(ItemSchema) }), ...errorResponses },
      },
    },
    async (request) => {
      const source = await getOwnedSourceOrThrow(deps, request.userId, request.params.id);
      return { items: (await deps.registry.getEntries(source.id)).map(itemView) };
    },
  );

  app.post(
    '/sources/:id/refresh',
    {
      schema: {
        tags,
        summary: 'Refresh now and answer with the result (an upstream failure shows in status/lastError)',
        description: 'Only a pending upstream Retry-After defers the fetch: the source then comes back unchanged with its nextFetchAt.',
        params: IdParams,
        response: { 200: SourceSchema, ...errorResponses },
      },
    },
    async (request) => {
      const source = await getOwnedSourceOrThrow(deps, request.userId, request.params.id);
      const result = await withHeavySlot(deps, request.userId, () => refreshSource(deps, source.id, { force: true, wait: true }));
      return sourceView(result?.source ?? source);
    },
  );
};
