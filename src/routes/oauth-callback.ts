// GET /oauth/callback — where the provider sends the user's browser back after authorizing.
// Answers a small HTML page either way; a bad or replayed link changes nothing.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { isCodedError } from '../errors.js';
import { CALLBACK_PATH, completeConnectionFromCallback } from '../services/connections.js';
import { escapeHtml } from '../text.js';
import { readCookie, RETURN_COOKIE } from './dashboard/session.js';

export const oauthCallbackRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    CALLBACK_PATH,
    {
      schema: {
        tags: ['connections'],
        summary: 'OAuth 1.0a callback (the provider redirects the browser here)',
        security: [],
        querystring: Type.Object({
          oauth_token: Type.Optional(Type.String({ maxLength: 1024 })),
          oauth_verifier: Type.Optional(Type.String({ maxLength: 1024 })),
        }),
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').type('text/html; charset=utf-8');
      const { oauth_token: token, oauth_verifier: verifier } = request.query;
      if (!token) return reply.code(400).send(page('Connection failed', 'The provider sent no oauth_token. Start the connection again.'));
      try {
        const { connection, sourcesLeft } = await completeConnectionFromCallback(app.deps, token, verifier);
        // Started from the dashboard (its Lax cookie says so): go back there. A page of ours, not a
        // redirect, so the navigation is same-site and the dashboard's Strict session cookie is sent.
        const fromDashboard = readCookie(request.headers.cookie, RETURN_COOKIE) !== undefined;
        const back = `/dashboard/connections/${encodeURIComponent(connection.id)}?done=connected`;
        if (fromDashboard) reply.header('set-cookie', `${RETURN_COOKIE}=; Path=/oauth; Max-Age=0; HttpOnly; SameSite=Lax`);
        // Named, because nothing binds this browser to the user who started the connection (the
        // API's flow finishes in any browser): someone who opened another's link can see it here.
        const owner = await app.deps.registry.getUser(connection.userId);
        return reply.send(
          page(
            'Connected',
            `Your ${escapeHtml(connection.provider)} account is connected to the feedproxy account “${escapeHtml(owner?.name ?? connection.userId)}”. ` +
              `If that is not you, revoke this application's access at ${escapeHtml(connection.provider)}. ` +
              // Linked all the same: the scheduler puts those back on its next tick (services/connections.ts).
              (sourcesLeft > 0
                ? `${sourcesLeft} of its sources could not resume yet (the store was busy): they resume shortly by themselves. `
                : '') +
              `<a href="${escapeHtml(back)}">Back to the dashboard</a>`,
            fromDashboard ? back : undefined,
          ),
        );
      } catch (error) {
        if (isCodedError(error) && (error.statusCode ?? 500) < 500) {
          return reply.code(400).send(page('Connection failed', escapeHtml(error.message)));
        }
        throw error;
      }
    },
  );
};

function page(title: string, message: string, refreshTo?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
${refreshTo ? `<meta http-equiv="refresh" content="0; url=${escapeHtml(refreshTo)}">` : ''}
<title>${title} — feedproxy</title>
<style>body{font:1.1rem/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1a1a1a}h1{font-size:1.6rem}</style>
</head><body><main><h1>${title}</h1><p>${message}</p></main></body></html>
`;
}
