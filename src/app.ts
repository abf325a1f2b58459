// buildApp(deps): the whole HTTP surface, registered explicitly. It never listens; server.ts and
// tests decide where it runs.
import compress from '@fastify/compress';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Deps } from './deps.js';
import { isCodedError } from './errors.js';
import { clientErrorCodeOf, registerHttpSecurity } from './http-security.js';
import { apiRoutes } from './routes/api/index.js';
import { usersRoutes } from './routes/api/users.js';
import { createWrongKeyLimit, type WrongKeyLimit } from './routes/api/wrong-keys.js';
import { healthRoutes } from './routes/health.js';
import { oauthCallbackRoutes } from './routes/oauth-callback.js';
import { publicFeedRoutes } from './routes/public-feeds.js';
import { browserViewRoutes } from './routes/browser-view.js';
import { dashboardRoutes } from './routes/dashboard/index.js';
import { websubRoutes } from './routes/websub.js';
import { VERSION } from './version.js';

declare module 'fastify' {
  interface FastifyInstance {
    deps: Deps;
    wrongKeys: WrongKeyLimit;
  }
}

export async function buildApp(deps: Deps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Every API body is a few kilobytes; a megabyte is generous and bounds what a client can make us parse.
    bodyLimit: 1024 * 1024,
    trustProxy: deps.config.trustProxy,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.decorate('deps', deps);
  // One count of wrong keys per address for every route that takes a key (API keys, the admin token).
  app.decorate('wrongKeys', createWrongKeyLimit(deps.config.limits.wrongApiKeysPerMinute));

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error.validation) {
      return reply.code(400).send({ statusCode: 400, error: 'FP_BAD_REQUEST', message: `${error.validationContext ?? 'request'}${error.message.replace(/^(body|querystring|params)/, '')}` });
    }
    const statusCode = error.statusCode ?? 500;
    if (isCodedError(error) && statusCode < 500) {
      const retryAfter = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
      if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
      return reply.code(statusCode).send({ statusCode, error: error.code, message: error.message });
    }
    if (statusCode < 500) {
      // Fastify's own client errors (bad JSON, body too large, unsupported media type).
      return reply.code(statusCode).send({ statusCode, error: clientErrorCodeOf(error), message: error.message });
    }
    // A failure because the store is away (Redis restarting) is the service being unavailable, not a bug:
    // 503 with Retry-After, and the next request works again as soon as the store answers.
    if (!(await deps.registry.store.ping().then(() => true, () => false))) {
      request.log.warn({ err: { type: error.name, message: error.message } }, 'store unavailable');
      return reply.code(503).header('retry-after', '5').send({ statusCode: 503, error: 'FP_STORE_UNAVAILABLE', message: 'The store is unavailable; try again shortly' });
    }
    request.log.error({ err: { type: error.name, message: error.message, stack: error.stack } }, 'request failed');
    return reply.code(500).send({ statusCode: 500, error: 'FP_INTERNAL', message: 'Internal server error' });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ statusCode: 404, error: 'FP_NOT_FOUND', message: `No route for ${request.method} ${request.url.split('?')[0]}` }),
  );
  // Callback style, not async: no promise per request on the polled routes.
  app.addHook('onResponse', (request, reply, done) => {
    deps.metrics.countHttpRequest(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode);
    done();
  });

  await app.register(compress, { global: true, threshold: 1024, encodings: ['br', 'gzip', 'deflate'] });
  await registerHttpSecurity(app, deps);
  await app.register(swagger, {
    openapi: {
      info: { title: 'feedproxy', version: VERSION, description: 'Private feeds in, merged public feeds out.' },
      servers: [{ url: deps.config.publicUrl }],
      components: {
        securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'A user API key (fp_…) or, for /api/v1/users, the admin token' } },
      },
      security: [{ apiKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes);
  await app.register(publicFeedRoutes);
  await app.register(browserViewRoutes);
  await app.register(websubRoutes);
  await app.register(oauthCallbackRoutes);
  await app.register(dashboardRoutes);
  await app.register(usersRoutes, { prefix: '/api/v1' });
  await app.register(apiRoutes, { prefix: '/api/v1' });
  return app;
}
