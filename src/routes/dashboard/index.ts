// Web dashboard (issue 9): server-rendered pages on top of the public JSON API. Every page calls
// /api/v1 in-process with the signed-in user's key (api-client.ts); no page reads records itself (the
// error handler pings the store only to tell an outage from a bug).
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import { dashboardContentSecurityPolicy } from '../../http-security.js';
import { isStoreUnavailable, STORE_RETRY_AFTER_MS } from '../../store-unavailable.js';
import { apiClient, SignedOutError, type CallApi } from './api-client.js';
import { loadAssets } from './assets.js';
import { connectionPages } from './connections.js';
import { feedPages } from './feeds.js';
import { parseForm } from './form.js';
import { html } from './html.js';
import { page } from './layout.js';
import { signInPages } from './sign-in.js';
import { csrfMatches, openSession, writeSession, type DashboardSession } from './session.js';
import { sourcePages } from './sources.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The dashboard session from the cookie, if any (dashboard routes only). */
    dashboard: DashboardSession | undefined;
    /** The public API as the signed-in user (signed-in dashboard routes only). */
    api: CallApi;
  }
}

export const SIGN_IN_PATH = '/dashboard/sign-in';

export const dashboardRoutes: FastifyPluginAsync = async (app) => {
  const { deps } = app;
  const csp = dashboardContentSecurityPolicy(deps);
  const assets = loadAssets();

  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/dashboard', 302));

  app.get('/dashboard/assets/:name', { schema: { hide: true } }, async (request, reply) => {
    const asset = assets.get((request.params as { name: string }).name);
    if (!asset) return reply.callNotFound();
    reply.header('etag', asset.etag).header('cache-control', 'public, max-age=300').type(asset.contentType);
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.send(asset.body);
  });

  await app.register(async (pages) => {
    // HTML pages for people, not API: kept out of the OpenAPI document (and the API fuzzer's reach).
    pages.addHook('onRoute', (route) => {
      route.schema = { ...route.schema, hide: true };
    });
    pages.decorateRequest('dashboard', undefined);
    pages.decorateRequest('api', null as unknown as CallApi);
    // Forms post urlencoded; node's URLSearchParams parses them (repeated names become arrays).
    pages.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      try {
        done(null, parseForm(body as string));
      } catch (error) {
        done(error as Error, undefined);
      }
    });
    pages.addHook('onRequest', async (request, reply) => {
      request.dashboard = await openSession(deps, request);
      reply.header('content-security-policy', csp).header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
    });
    // Every form carries the session's CSRF token (synchronizer token kept in the sealed cookie);
    // a post without it, or with another session's, changes nothing.
    pages.addHook('preHandler', async (request, reply) => {
      if (request.method !== 'POST') return;
      const token = (request.body as Record<string, unknown> | null | undefined)?._csrf;
      if (!csrfMatches(request.dashboard, token)) {
        return reply
          .code(403)
          .type('text/html; charset=utf-8')
          .send(
            page({
              title: 'Form expired',
              section: 'sign-in',
              session: request.dashboard,
              body: html`<p>This form was not sent from this session (missing or wrong CSRF token). Go back, reload the page and try again.</p><p><a href="/dashboard">Back to the dashboard</a></p>`,
            }),
          );
      }
    });
    pages.setErrorHandler(async (error, request, reply) => {
      if (error instanceof SignedOutError) {
        // A fresh session without the key, or the sign-in page would send the browser straight back.
        writeSession(deps, reply);
        return reply.redirect(`${SIGN_IN_PATH}?ended=1`, 303);
      }
      const status = (error as { statusCode?: number }).statusCode ?? 500;
      // As the API answers (app.ts): the store away or busy is a moment's unavailability, not a bug.
      if (status >= 500 && (await isStoreUnavailable(deps, error))) {
        request.log.warn({ err: { type: (error as Error).name, message: (error as Error).message } }, 'store unavailable');
        return reply
          .code(503)
          .header('retry-after', String(STORE_RETRY_AFTER_MS / 1000))
          .type('text/html; charset=utf-8')
          .send(
            page({
              title: 'Store unavailable',
              section: 'sources',
              session: request.dashboard,
              body: html`<p>The store is busy or unavailable. Try again in a few seconds. <a href="/dashboard">Back to the dashboard</a></p>`,
            }),
          );
      }
      request.log.error({ err: { type: (error as Error).name, message: (error as Error).message } }, 'dashboard page failed');
      return reply
        .code(status >= 400 ? status : 500)
        .type('text/html; charset=utf-8')
        .send(
          page({
            title: 'Something went wrong',
            section: 'sources',
            session: request.dashboard,
            body: html`<p>The page could not be shown. <a href="/dashboard">Back to the dashboard</a></p>`,
          }),
        );
    });

    await pages.register(signInPages);
    await pages.register(signedInPages);
  });
};

/** The pages behind sign-in: without a session the browser is sent to the sign-in form. */
async function signedInPages(app: FastifyInstance): Promise<void> {
  app.addHook('preHandler', async (request, reply) => {
    const apiKey = request.dashboard?.apiKey;
    if (!apiKey) return redirectToSignIn(reply);
    request.api = apiClient(app, apiKey, request.ip);
  });
  await app.register(sourcePages);
  await app.register(feedPages);
  await app.register(connectionPages);
}

function redirectToSignIn(reply: FastifyReply): FastifyReply {
  return reply.redirect(SIGN_IN_PATH, 303);
}
