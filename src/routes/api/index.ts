// /api/v1: every route in this scope needs a user's API key; the check lives in one hook.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { authenticate } from '../../services/users.js';
import { bearerToken, unauthorized } from './bearer.js';
import { connectionRoutes } from './connections.js';
import { feedRoutes } from './feeds.js';
import { meRoutes } from './me.js';
import { opmlRoutes } from './opml.js';
import { sourceRoutes } from './sources.js';

declare module 'fastify' {
  interface FastifyRequest {
    userId: string;
  }
}

export const apiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.decorateRequest('userId', '');
  app.addHook('onRequest', async (request) => {
    const apiKey = bearerToken(request.headers.authorization);
    // No key at all guesses nothing: the rate limiter already counts such requests per address.
    if (!apiKey) throw unauthorized(request.headers.authorization);
    const user = await authenticate(app.deps, apiKey);
    if (!user) return app.wrongKeys.refuse(request.ip, unauthorized(request.headers.authorization));
    request.userId = user.id;
  });
  await app.register(meRoutes);
  await app.register(sourceRoutes);
  await app.register(feedRoutes);
  await app.register(connectionRoutes);
  await app.register(opmlRoutes);
};
