// Liveness, readiness (the store answers) and Prometheus metrics.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Config } from '../config.js';
import { UnauthorizedError } from '../errors.js';
import { safeEqual } from '../vault/seal.js';
import { bearerToken } from './api/bearer.js';

/** What a refused /metrics request is told (here and on a worker's probe server). */
export const METRICS_TOKEN_MESSAGE = 'GET /metrics needs Authorization: Bearer <FEEDPROXY_METRICS_TOKEN>';

/**
 * Metrics name routes, counts and outcomes an outsider has no business reading (issue 18). With
 * FEEDPROXY_METRICS_TOKEN set they need it as a bearer token; unset, they stay open as before, so
 * an existing scrape keeps working (keep such a /metrics on a private network).
 */
export function metricsAllowed(config: Pick<Config, 'metricsToken'>, authorization: string | undefined): boolean {
  if (config.metricsToken === undefined) return true;
  const given = bearerToken(authorization);
  return given !== undefined && safeEqual(given, config.metricsToken);
}

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app;
  const tags = ['operations'];
  const Status = Type.Object({ status: Type.String() });

  app.get('/healthz', { schema: { tags, summary: 'The process is up', security: [], response: { 200: Status } } }, async () => ({
    status: 'ok',
  }));

  app.get(
    '/readyz',
    { schema: { tags, summary: 'The store answers', security: [], response: { 200: Status, 503: Status } } },
    async (_request, reply) => {
      try {
        await deps.registry.ping();
        return { status: 'ready' };
      } catch {
        return reply.code(503).send({ status: 'store unavailable' });
      }
    },
  );

  const metricsSecurity = deps.config.metricsToken === undefined ? [] : [{ apiKey: [] }];
  app.get(
    '/metrics',
    { schema: { tags, summary: 'Prometheus metrics (a bearer token when FEEDPROXY_METRICS_TOKEN is set)', security: metricsSecurity } },
    async (request, reply) => {
      if (!metricsAllowed(deps.config, request.headers.authorization)) {
        reply.header('www-authenticate', 'Bearer realm="metrics"');
        const refusal = Object.assign(new UnauthorizedError(), { message: METRICS_TOKEN_MESSAGE });
        // Guessing the token counts as guessing a key: past the budget, 429 for the minute.
        return app.wrongKeys.refuse(request.ip, refusal);
      }
      const { body, contentType } = await deps.metrics.render();
      return reply.type(contentType).send(body);
    },
  );
};
