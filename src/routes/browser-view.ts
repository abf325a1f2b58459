// Browser view of public feeds (issue 8): the XSL stylesheet and the /f/:token discovery page.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

export const browserViewRoutes: FastifyPluginAsyncTypebox = async () => {};
