// POST /api/v1/users: user management with the admin token. Without FEEDPROXY_ADMIN_TOKEN the
// route answers 403 to everyone, saying so, and the CLI (`feedproxy users create`) is the way in.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { UserApiDisabledError } from '../../errors.js';
import { createUser } from '../../services/users.js';
import { safeEqual } from '../../vault/seal.js';
import { bearerToken, unauthorized } from './bearer.js';
import { ErrorSchema } from './views.js';

export const usersRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', async (request) => {
    const adminToken = app.deps.config.adminToken;
    const given = bearerToken(request.headers.authorization);
    // Only a token that was given and is wrong counts as a guess; without one (or with the user API
    // disabled) there is nothing to guess.
    if (!adminToken) throw new UserApiDisabledError();
    if (!given) throw unauthorized(request.headers.authorization, 'admin token');
    if (!safeEqual(given, adminToken)) await app.wrongKeys.refuse(request.ip, unauthorized(request.headers.authorization, 'admin token'));
  });

  app.post(
    '/users',
    {
      schema: {
        tags: ['users'],
        summary: 'Create a user (admin token); the API key is shown only in this answer',
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
        response: {
          201: Type.Object({ id: Type.String(), name: Type.String(), apiKey: Type.String() }),
          400: ErrorSchema,
          401: ErrorSchema,
          403: ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      const { user, apiKey } = await createUser(app.deps, request.body.name);
      return reply.code(201).send({ id: user.id, name: user.name, apiKey });
    },
  );
};
