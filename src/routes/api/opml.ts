// /api/v1/opml (issue 8) — filled in by the OPML work.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

export const opmlRoutes: FastifyPluginAsyncTypebox = async () => {};
