// Liveness, readiness (the store answers) and Prometheus metrics.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app;
  const tags = ['operations'];
  const Status = Type.Object({ status: Type.String() });

  app.get('/healthz', { schema: { tags, summary: 'The process is up', security: [], response: { 200: Status } } }, async () => ({ status: 'ok' }));

  app.get(
    '/readyz',
    { schema: { tags, summary: 'The store answers', security: [], response: { 200: Status, 503: Status } } },
    async (_request, reply) => {
      try {
        await deps.registry.store.ping();
        return { status: 'ready' };
      } catch {
        return reply.code(503).send({ status: 'store unavailable' });
      }
    },
  );

  app.get('/metrics', { schema: { tags, summary: 'Prometheus metrics', security: [] } }, async (_request, reply) => {
    const { body, contentType } = await deps.metrics.render();
    return reply.type(contentType).send(body);
  });
};
