// WebSub hub endpoint (issue 8) — filled in by the WebSub work.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

export const websubRoutes: FastifyPluginAsyncTypebox = async () => {};
