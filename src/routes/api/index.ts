// /api/v1: every route in this scope needs a user's API key; the check lives in one hook.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { RateLimitedError, UnauthorizedError } from '../../errors.js';
import { authenticate } from '../../services/users.js';
import { bearerToken } from './bearer.js';
import { connectionRoutes } from './connections.js';
import { feedRoutes } from './feeds.js';
import { opmlRoutes } from './opml.js';
import { sourceRoutes } from './sources.js';
import { createWrongKeyLimit } from './wrong-keys.js';

declare module 'fastify' {
  interface FastifyRequest {
    userId: string;
  }
}

export const apiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Wrong or missing keys an address may send in a minute before all its API requests are refused.
  const maxWrongKeys = app.deps.config.limits.wrongApiKeysPerMinute;
  const wrongKeys = createWrongKeyLimit(maxWrongKeys);
  app.decorateRequest('userId', '');
  app.addHook('onRequest', async (request, reply) => {
    const blockedFor = wrongKeys.blockedFor(request.ip);
    if (blockedFor > 0) {
      reply.header('retry-after', String(blockedFor));
      throw new RateLimitedError(`more than ${maxWrongKeys} wrong API keys a minute from this address; retry in ${blockedFor} seconds`);
    }
    const apiKey = bearerToken(request.headers.authorization);
    const user = apiKey ? await authenticate(app.deps, apiKey) : undefined;
    if (!user) {
      wrongKeys.recordFailure(request.ip);
      throw new UnauthorizedError();
    }
    request.userId = user.id;
  });
  await app.register(sourceRoutes);
  await app.register(feedRoutes);
  await app.register(connectionRoutes);
  await app.register(opmlRoutes);
};
