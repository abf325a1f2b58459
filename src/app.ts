// buildApp(deps): the whole HTTP surface, registered explicitly. It never listens; server.ts and
// tests decide where it runs.
import compress from '@fastify/compress';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Deps } from './deps.js';
import {
  BadRequestError,
  InternalError,
  isCodedError,
  NotFoundError,
  StoreUnavailableError,
  withRetryAfter,
  type CodedError,
} from './errors.js';
import { clientErrorCodeOf, HELMET_HEADERS, registerHttpSecurity } from './http-security.js';
import { apiRoutes } from './routes/api/index.js';
import { usersRoutes } from './routes/api/users.js';
import { createWrongKeyLimit, type WrongKeyLimit } from './routes/api/wrong-keys.js';
import { healthRoutes } from './routes/health.js';
import { oauthCallbackRoutes } from './routes/oauth-callback.js';
import { publicFeedRoutes, type PollAnswerer } from './routes/public-feeds.js';
import { browserViewRoutes } from './routes/browser-view.js';
import { dashboardRoutes } from './routes/dashboard/index.js';
import { websubRoutes } from './routes/websub.js';
import { isStoreUnavailable, STORE_RETRY_AFTER_MS } from './store-unavailable.js';
import { VERSION } from './version.js';

declare module 'fastify' {
  interface FastifyInstance {
    deps: Deps;
    wrongKeys: WrongKeyLimit;
  }
}

/** Fastify's client-error messages, with what to send instead where the bare message names no remedy. */
function clientErrorMessage(error: FastifyError, url: string): string {
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const accepted =
      url.split('?')[0] === '/api/v1/opml' ? 'application/json, text/x-opml, application/xml or text/xml' : 'application/json';
    return `Unsupported Media Type: send the body with "Content-Type: ${accepted.split(',')[0]}"${accepted.includes(',') ? ` (accepted: ${accepted})` : ''}`;
  }
  if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY')
    return 'The body is empty but Content-Type says JSON: send a JSON object, or no Content-Type';
  return error.message;
}

export async function buildApp(deps: Deps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Every API body is a few kilobytes; a megabyte is generous and bounds what a client can make us parse.
    bodyLimit: 1024 * 1024,
    trustProxy: deps.config.trustProxy,
    // A client that sends a byte every few seconds must not hold its connection forever (issue 18):
    // the whole request must arrive within requestTimeout, its headers within headersTimeout.
    requestTimeout: deps.config.http.requestTimeoutSeconds * 1000,
    http: {
      headersTimeout: deps.config.http.headersTimeoutSeconds * 1000,
      requestTimeout: deps.config.http.requestTimeoutSeconds * 1000,
      // node checks the two timeouts on this interval (30 s by default): a quarter of the headers
      // timeout, at most 5 s, keeps the cut-off close to the configured value.
      connectionsCheckingInterval: Math.min(5000, (deps.config.http.headersTimeoutSeconds * 1000) / 4),
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.decorate('deps', deps);
  // One count of wrong keys per address for every route that takes a key (API keys, the admin token).
  app.decorate('wrongKeys', createWrongKeyLimit(deps.config.limits.wrongApiKeysPerMinute, Date.now, deps.registry));

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error.validation) {
      // A body sent as text/plain reaches validation as a string: say how to send it.
      const notJson = error.validationContext === 'body' && !/json/i.test(String(request.headers['content-type'] ?? ''));
      const hint = notJson ? '; send a JSON object with "Content-Type: application/json"' : '';
      return sendError(
        reply,
        new BadRequestError(`${error.validationContext ?? 'request'}${error.message.replace(/^(body|querystring|params)/, '')}${hint}`),
      );
    }
    const statusCode = error.statusCode ?? 500;
    if (isCodedError(error) && statusCode < 500) return sendError(reply, error);
    if (statusCode < 500) {
      // Fastify's own client errors (bad JSON, body too large, unsupported media type).
      return sendError(reply, { code: clientErrorCodeOf(error), statusCode, message: clientErrorMessage(error, request.url) });
    }
    // The store away or busy is the service being unavailable, not a bug (store-unavailable.ts).
    if (await isStoreUnavailable(deps, error)) {
      request.log.warn({ err: { type: error.name, message: error.message } }, 'store unavailable');
      return sendError(reply, withRetryAfter(new StoreUnavailableError(), STORE_RETRY_AFTER_MS));
    }
    request.log.error({ err: { type: error.name, message: error.message, stack: error.stack } }, 'request failed');
    return sendError(reply, new InternalError('Internal server error'));
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'feedproxy', version: VERSION, description: 'Private feeds in, merged public feeds out.' },
      servers: [{ url: deps.config.publicUrl }],
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'A user API key (fp_…) or, for /api/v1/users, the admin token' },
        },
      },
      security: [{ apiKey: [] }],
    },
  });
  // Two scopes side by side. The public feed URLs readers poll all day are one: no hook of the
  // site's reaches them (Fastify runs a scope's hooks on its own routes only), so a poll pays for
  // none — the route sets its headers from memory and counts its own metrics (routes/public-feeds.ts;
  // profile: BENCHMARKS.md, diagnosis 1). The site is the other: every other route and the 404s, with
  // the security headers, the metrics hook, compression and the API's rate limiter.
  await app.register(publicFeedRoutes, { onFastLane: (answer) => putInFront(app, answer) });
  await app.register(async (site) => {
    site.setNotFoundHandler((request, reply) => {
      // A 404 handed here by another scope (`callNotFound` of the feed scope's preflight route)
      // never ran the site's header hook: the page headers, as on every other answer.
      if (!reply.hasHeader('x-content-type-options')) reply.headers(HELMET_HEADERS);
      return sendError(reply, {
        code: NotFoundError.code,
        statusCode: 404,
        message: `No route for ${request.method} ${request.url.split('?')[0]}`,
      });
    });
    // Callback style, not async: no promise per request.
    site.addHook('onResponse', (request, reply, done) => {
      deps.metrics.countHttpRequest(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode);
      done();
    });
    await site.register(compress, { global: true, threshold: 1024, encodings: ['br', 'gzip', 'deflate'] });
    await registerHttpSecurity(site, deps);
    await site.register(swaggerUi, { routePrefix: '/docs' });
    site.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    // Browsers ask for it on every page (the dashboard's own pages name an empty icon): no 404 noise.
    site.get('/favicon.ico', { schema: { hide: true } }, async (_request, reply) =>
      reply.code(204).header('cache-control', 'public, max-age=86400').send(),
    );

    await site.register(healthRoutes);
    await site.register(browserViewRoutes);
    await site.register(websubRoutes);
    await site.register(oauthCallbackRoutes);
    await site.register(dashboardRoutes);
    await site.register(usersRoutes, { prefix: '/api/v1' });
    await site.register(apiRoutes, { prefix: '/api/v1' });
  });
  return app;
}

/**
 * Every error answer has one shape, {statusCode, error: code, message}; a 429 or 503 that knows how
 * long to wait says so in Retry-After (RFC 9110 §10.2.3, RFC 6585 §4), in whole seconds.
 */
function sendError(reply: FastifyReply, error: Pick<CodedError, 'code' | 'statusCode' | 'message' | 'retryAfterMs'>): FastifyReply {
  const statusCode = error.statusCode ?? 500;
  if (error.retryAfterMs !== undefined && (statusCode === 429 || statusCode === 503)) {
    reply.header('retry-after', String(Math.max(Math.ceil(error.retryAfterMs / 1000), 0)));
  }
  // A 401 says which credentials it wants (RFC 9110 §11.6.1).
  const challenge = (error as { wwwAuthenticate?: unknown }).wwwAuthenticate;
  if (typeof challenge === 'string') reply.header('www-authenticate', challenge);
  // A duplicate names the resource the caller already has.
  const id = (error as { id?: unknown }).id;
  return reply.code(statusCode).send({ statusCode, error: error.code, message: error.message, ...(typeof id === 'string' ? { id } : {}) });
}

/**
 * A poll the public feeds' memory can answer whole is answered before Fastify routes it
 * (routes/public-feeds.ts, "the fast lane"); every other request goes on to Fastify's handler. The
 * server stays the one Fastify made (its options, timeouts, and every address of a HOST name);
 * `app.inject` calls Fastify's handler directly, so it never takes the lane.
 */
function putInFront(app: FastifyInstance, answerPoll: PollAnswerer): void {
  for (const handler of app.server.listeners('request') as Array<(request: IncomingMessage, response: ServerResponse) => void>) {
    app.server.removeListener('request', handler);
    app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      if (!answerPoll(request, response)) handler(request, response);
    });
  }
}
