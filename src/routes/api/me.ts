// GET /api/v1/me: whose key this is — the way back to a user id that only a log line once showed.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { NotFoundError } from '../../errors.js';
import { ErrorSchema } from './views.js';

export const meRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/me',
    {
      schema: {
        tags: ['users'],
        summary: "The key's user: its id (for `feedproxy opml export --user ID`) and name",
        response: { 200: Type.Object({ id: Type.String(), name: Type.String() }), 401: ErrorSchema },
      },
    },
    async (request) => {
      const user = await app.deps.registry.getUser(request.userId);
      if (!user) throw new NotFoundError('User');
      return { id: user.id, name: user.name };
    },
  );
};
