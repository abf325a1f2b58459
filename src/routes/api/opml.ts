// /api/v1/opml: import an OPML file as sources and category feeds; export the user's public feeds.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { BadRequestError } from '../../errors.js';
import { exportOpml } from '../../opml/export-opml.js';
import { importOpml } from '../../opml/import-opml.js';
import { decodeBody } from '../../parse/index.js';
import { withHeavySlot } from '../../services/heavy-work.js';
import { ErrorSchema, feedView } from './views.js';

const XML_TYPES = ['text/x-opml', 'application/xml', 'text/xml'];

const CodedError = Type.Object({ error: Type.String(), message: Type.String() });
const ImportReportSchema = Type.Object({
  outlines: Type.Array(
    Type.Object({
      title: Type.String(),
      url: Type.String({ description: 'The outline xmlUrl with every query value masked' }),
      category: Type.Union([Type.String(), Type.Null()], { description: 'Category path, e.g. "Work / Dev"' }),
      result: Type.Union([Type.Literal('added'), Type.Literal('duplicate'), Type.Literal('failed')]),
      sourceId: Type.Optional(Type.String()),
      error: Type.Optional(CodedError),
    }),
  ),
  feeds: Type.Array(Type.Object({ id: Type.String(), title: Type.String(), urls: Type.Record(Type.String(), Type.String()) })),
  feedErrors: Type.Array(Type.Object({ title: Type.String(), error: CodedError })),
  summary: Type.Object({ added: Type.Integer(), duplicate: Type.Integer(), failed: Type.Integer() }),
});
const OpmlText = Type.String({ description: 'An OPML 1.0 or 2.0 document' });

export const opmlRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app;
  const tags = ['opml'];

  // XML bodies in this scope only, as bytes: the BOM, charset parameter or XML declaration decides
  // the encoding. The app's 1 MiB body limit applies (413, as for every API body).
  app.addContentTypeParser(XML_TYPES, { parseAs: 'buffer' }, async (request: FastifyRequest, body: Buffer) =>
    decodeBody(body, request.headers['content-type']),
  );

  app.post(
    '/opml',
    {
      schema: {
        tags,
        summary: 'Import an OPML file: each subscription becomes a source, each category a merged feed',
        description:
          'Send the file as text/x-opml, application/xml or text/xml, or as JSON {"opml": "<opml…>"}. At most 1 MiB (413 above) and 1000 outlines; no DTD. ' +
          'Each outline with an xmlUrl is reported as added, duplicate (already a source, or earlier in the file) or failed with the reason.',
        body: {
          content: {
            'text/x-opml': { schema: OpmlText },
            'application/xml': { schema: OpmlText },
            'text/xml': { schema: OpmlText },
            'application/json': { schema: Type.Object({ opml: Type.String() }, { additionalProperties: false }) },
          },
        },
        response: { 200: ImportReportSchema, 400: ErrorSchema, 401: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema },
      },
    },
    async (request) => {
      const body = request.body as string | { opml?: unknown } | undefined;
      const text = typeof body === 'string' ? body : typeof body?.opml === 'string' ? body.opml : undefined;
      if (text === undefined)
        throw new BadRequestError('send the OPML file as the body (Content-Type: text/x-opml), or JSON {"opml": "<opml…>"}');
      const report = await withHeavySlot(deps, request.userId, () => importOpml(deps, request.userId, text));
      return {
        ...report,
        feeds: report.feeds.map((feed) => {
          const { id, title, urls } = feedView(feed, deps.config.publicUrl);
          return { id, title, urls };
        }),
      };
    },
  );

  app.get(
    '/opml',
    {
      schema: {
        tags,
        summary: "Export the user's merged feeds as OPML 2.0: their public URLs only, never a source's",
        produces: ['text/x-opml'],
        response: { 200: Type.String({ description: 'OPML 2.0 document' }), 401: ErrorSchema },
      },
    },
    async (request, reply) =>
      reply
        .type('text/x-opml; charset=utf-8')
        .header('content-disposition', 'attachment; filename="feedproxy.opml"')
        .send(await exportOpml(deps, request.userId)),
  );
};
