// Web dashboard (issue 9) — filled in by the dashboard work.
import type { FastifyPluginAsync } from 'fastify';

export const dashboardRoutes: FastifyPluginAsync = async () => {};
