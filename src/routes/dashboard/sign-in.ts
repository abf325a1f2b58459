// Sign in with an API key, sign out. The key is checked by calling the API with it; it is then kept
// only inside the sealed session cookie.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { field } from './form.js';
import { html } from './html.js';
import { csrfField, page } from './layout.js';
import { clearSessionCookie, revokeSession, writeSession, type DashboardSession } from './session.js';

const NOTICES: Record<string, string> = {
  ended: 'Your session ended; sign in again.',
  out: 'You are signed out.',
};

export const signInPages: FastifyPluginAsync = async (app) => {
  const { deps } = app;

  app.get('/dashboard', async (request, reply) =>
    reply.redirect(request.dashboard?.apiKey ? '/dashboard/sources' : '/dashboard/sign-in', 303),
  );

  app.get('/dashboard/sign-in', async (request, reply) => {
    if (request.dashboard?.apiKey) return reply.redirect('/dashboard/sources', 303);
    // A session before sign-in, so that the sign-in form itself carries a CSRF token.
    const session = request.dashboard ?? writeSession(deps, reply);
    const query = request.query as Record<string, string | undefined>;
    const notice = Object.keys(NOTICES).find((key) => query[key] !== undefined);
    return sendSignIn(reply, session, notice ? NOTICES[notice] : undefined);
  });

  app.post('/dashboard/sign-in', async (request, reply) => {
    const apiKey = field(request.body, 'apiKey').trim();
    // The cheapest authenticated API call tells whether the key is a user's.
    const check = await app.inject({
      method: 'GET',
      url: '/api/v1/providers',
      remoteAddress: request.ip,
      headers: { authorization: `Bearer ${apiKey}` },
    });
    if (check.statusCode !== 200) {
      const message = String((check.json() as { message?: string }).message ?? 'Sign-in failed');
      if (check.headers['retry-after'] !== undefined) reply.header('retry-after', String(check.headers['retry-after']));
      return sendSignIn(reply.code([401, 429].includes(check.statusCode) ? check.statusCode : 400), request.dashboard, undefined, message);
    }
    writeSession(deps, reply, apiKey);
    return reply.redirect('/dashboard/sources', 303);
  });

  app.post('/dashboard/sign-out', async (request: FastifyRequest, reply) => {
    // Server-side first: clearing the cookie alone would leave any copy of it valid for days.
    await revokeSession(deps, request.dashboard);
    reply.header('set-cookie', clearSessionCookie(deps));
    return reply.redirect('/dashboard/sign-in?out', 303);
  });
};

function sendSignIn(reply: FastifyReply, session: DashboardSession | undefined, notice?: string, error?: string): FastifyReply {
  return reply.type('text/html; charset=utf-8').send(
    page({
      title: 'Sign in',
      section: 'sign-in',
      ...(notice ? { notice } : {}),
      ...(error ? { error } : {}),
      body: html`<form method="post" action="/dashboard/sign-in" class="card narrow">
  ${csrfField(session)}
  <label for="apiKey">API key</label>
  <input id="apiKey" name="apiKey" type="password" autocomplete="current-password" required spellcheck="false" aria-describedby="apiKey-help"${error ? html` aria-invalid="true"` : ''}>
  <p id="apiKey-help" class="help">The <code>fp_…</code> key an administrator created for you with <code>feedproxy users create NAME</code> or <code>POST /api/v1/users</code>.</p>
  <button type="submit" class="primary">Sign in</button>
</form>`,
    }),
  );
}
