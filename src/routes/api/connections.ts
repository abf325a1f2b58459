// /api/v1/connections: OAuth 1.0a connections to configured providers.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { getOwnedConnectionOrThrow, providersOf } from '../../oauth/signed-requests.js';
import { deleteConnection, listConnectionFeeds, startConnection, verifyConnection } from '../../services/connections.js';
import type { ConnectionRecord } from '../../model.js';
import { ErrorSchema, IdParams, errorResponses } from './views.js';

const ConnectionSchema = Type.Object({
  id: Type.String(),
  provider: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('connected'), Type.Literal('unauthorized')]),
  params: Type.Record(Type.String(), Type.String(), { description: 'Extra fields of the access-token response (user_id…)' }),
  authorizeUrl: Type.Optional(Type.String({ description: 'Where to send the user; only in the answer that starts or relinks' })),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

function connectionView(connection: ConnectionRecord, authorizeUrl?: string): Static<typeof ConnectionSchema> {
  return {
    id: connection.id,
    provider: connection.provider,
    status: connection.status,
    params: connection.params,
    ...(authorizeUrl ? { authorizeUrl } : {}),
    createdAt: connection.createdAt,
    updatedAt: connection.updatedAt,
  };
}

export const connectionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app;
  const tags = ['connections'];

  app.get(
    '/providers',
    {
      schema: {
        tags,
        summary: 'Configured OAuth 1.0a providers',
        response: { 200: Type.Object({ providers: Type.Array(Type.Object({ id: Type.String(), discovery: Type.Boolean() })) }) },
      },
    },
    async () => ({
      providers: [...providersOf(deps).values()].map((provider) => ({ id: provider.id, discovery: Boolean(provider.feedsUrl) })),
    }),
  );

  app.post(
    '/connections',
    {
      schema: {
        tags,
        summary: 'Start connecting to a provider: send the user to authorizeUrl',
        body: Type.Object({ provider: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
        response: { 201: ConnectionSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { connection, authorizeUrl } = await startConnection(deps, request.userId, request.body.provider);
      return reply.code(201).send(connectionView(connection, authorizeUrl));
    },
  );

  app.get(
    '/connections',
    {
      schema: {
        tags,
        summary: "The user's connections",
        response: { 200: Type.Object({ connections: Type.Array(ConnectionSchema) }), 401: ErrorSchema },
      },
    },
    async (request) => ({
      connections: (await deps.registry.listConnections(request.userId)).map((connection) => connectionView(connection)),
    }),
  );

  app.get(
    '/connections/:id',
    { schema: { tags, summary: 'One connection', params: IdParams, response: { 200: ConnectionSchema, ...errorResponses } } },
    async (request) => connectionView(await getOwnedConnectionOrThrow(deps, request.userId, request.params.id)),
  );

  app.post(
    '/connections/:id/relink',
    {
      schema: {
        tags,
        summary: 'Authorize again (revoked or expired tokens); the sources of the connection are kept',
        params: IdParams,
        response: { 200: ConnectionSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { connection, authorizeUrl } = await startConnection(deps, request.userId, '', request.params.id);
      return connectionView(connection, authorizeUrl);
    },
  );

  app.post(
    '/connections/:id/verify',
    {
      schema: {
        tags,
        summary: 'Finish an out-of-band (oob) authorization with the verifier the provider showed',
        params: IdParams,
        body: Type.Object({ verifier: Type.String({ minLength: 1, maxLength: 512 }) }, { additionalProperties: false }),
        response: { 200: ConnectionSchema, ...errorResponses },
      },
    },
    async (request) => connectionView(await verifyConnection(deps, request.userId, request.params.id, request.body.verifier)),
  );

  app.get(
    '/connections/:id/feeds',
    {
      schema: {
        tags,
        summary: "The feeds the provider lists for this user (its feedsUrl, signed); URLs may carry the user's feed_token",
        params: IdParams,
        response: {
          200: Type.Object({ feeds: Type.Array(Type.Object({ title: Type.String(), rel: Type.String(), url: Type.String() })) }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return { feeds: await listConnectionFeeds(deps, request.userId, request.params.id) };
    },
  );

  app.delete(
    '/connections/:id',
    {
      schema: {
        tags,
        summary: 'Remove the tokens; sources that used it are disabled (their last entries stay published)',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await deleteConnection(deps, request.userId, request.params.id);
      return reply.code(204).send(null);
    },
  );
};
