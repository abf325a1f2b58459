// Connections: one "Connect <provider>" button per configured provider, the provider's feeds with a
// one-click "add as source", relink, remove (with a confirm page), and the verifier form of
// out-of-band providers.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { maskUrl } from '../../secrets/scrub.js';
import { field } from './form.js';
import { html } from './html.js';
import { csrfField, errorBox, page, postButton, timeTag } from './layout.js';
import { cookieHeader, RETURN_COOKIE } from './session.js';

interface Connection {
  id: string;
  provider: string;
  status: 'pending' | 'connected' | 'unauthorized';
  params: Record<string, string>;
  authorizeUrl?: string;
  createdAt: string;
  updatedAt: string;
}
interface ProviderFeed {
  title: string;
  rel: string;
  url: string;
}

const NOTICES: Record<string, string> = {
  connected: 'Connected. Pick the feeds to add as sources below.',
  // The API disables the sources it signed (services/connections.ts): a new connection is a new id.
  removed: 'Connection removed. Sources signed with it are disabled: connect again and add them anew, or delete them.',
  verified: 'Connected.',
};
/** How long the browser remembers that a connection it started should come back here (the request token's default lifetime). */
const RETURN_SECONDS = 900;

type Params = { id: string };

export const connectionPages: FastifyPluginAsync = async (app) => {
  const { deps } = app;

  /** Off to the provider's authorize page, remembering (in a Lax cookie /oauth/callback reads) to come back here. */
  function sendToProvider(reply: FastifyReply, connection: Connection): FastifyReply {
    reply.header(
      'set-cookie',
      cookieHeader(deps, RETURN_COOKIE, encodeURIComponent(connection.id), { path: '/oauth', maxAge: RETURN_SECONDS, sameSite: 'Lax' }),
    );
    return reply.redirect(connection.authorizeUrl ?? '/dashboard/connections', 303);
  }

  app.get('/dashboard/connections', async (request, reply) => sendList(request, reply));

  app.post('/dashboard/connections', async (request, reply) => {
    const started = await request.api<Connection>('POST', '/connections', { provider: field(request.body, 'provider') });
    if (!started.ok) return sendList(request, reply.code(started.status), started.message);
    return sendToProvider(reply, started.body);
  });

  app.post<{ Params: Params }>('/dashboard/connections/:id/relink', async (request, reply) => {
    const relinked = await request.api<Connection>('POST', `/connections/${encodeURIComponent(request.params.id)}/relink`);
    if (!relinked.ok) return sendList(request, reply.code(relinked.status), relinked.message);
    return sendToProvider(reply, relinked.body);
  });

  app.post<{ Params: Params }>('/dashboard/connections/:id/verify', async (request, reply) => {
    const verified = await request.api('POST', `/connections/${encodeURIComponent(request.params.id)}/verify`, {
      verifier: field(request.body, 'verifier').trim(),
    });
    if (!verified.ok) return sendList(request, reply.code(verified.status), verified.message);
    return reply.redirect(`/dashboard/connections/${encodeURIComponent(request.params.id)}?done=verified`, 303);
  });

  app.get<{ Params: Params }>('/dashboard/connections/:id', async (request, reply) => sendFeeds(request, reply, request.params.id));

  // The form names the feed by its rel, not its URL: provider feed URLs carry the user's token,
  // which then never has to sit in the page.
  app.post<{ Params: Params }>('/dashboard/connections/:id/add', async (request, reply) => {
    const { id } = request.params;
    const listed = await request.api<{ feeds: ProviderFeed[] }>('GET', `/connections/${encodeURIComponent(id)}/feeds`);
    if (!listed.ok) return sendFeeds(request, reply.code(listed.status), id, listed.message);
    const feed = listed.body.feeds.find((candidate) => candidate.rel === field(request.body, 'rel'));
    if (!feed) return sendFeeds(request, reply.code(404), id, 'The provider no longer lists that feed.');
    const added = await request.api('POST', '/sources', { url: feed.url, title: feed.title });
    if (!added.ok) return sendFeeds(request, reply.code(added.status), id, added.message);
    return reply.redirect('/dashboard/sources?done=added', 303);
  });

  app.get<{ Params: Params }>('/dashboard/connections/:id/delete', async (request, reply) => {
    const connection = await request.api<Connection>('GET', `/connections/${encodeURIComponent(request.params.id)}`);
    if (!connection.ok) return sendList(request, reply.code(connection.status), connection.message);
    return reply.type('text/html; charset=utf-8').send(
      page({
        title: 'Remove connection',
        section: 'connections',
        session: request.dashboard,
        body: html`<div class="card narrow">
  <p>Remove the <strong>${connection.body.provider}</strong> connection? feedproxy forgets its tokens; sources signed with it are disabled and do not resume if you connect again (you add them anew).</p>
  <form method="post" action="/dashboard/connections/${connection.body.id}/delete" class="actions">
    ${csrfField(request.dashboard)}
    <button type="submit" class="danger">Remove connection</button>
    <a href="/dashboard/connections">Cancel</a>
  </form>
</div>`,
      }),
    );
  });

  app.post<{ Params: Params }>('/dashboard/connections/:id/delete', async (request, reply) => {
    const removed = await request.api('DELETE', `/connections/${encodeURIComponent(request.params.id)}`);
    if (!removed.ok) return sendList(request, reply.code(removed.status), removed.message);
    return reply.redirect('/dashboard/connections?done=removed', 303);
  });
};

function noticeOf(request: FastifyRequest): string | undefined {
  return NOTICES[(request.query as { done?: string }).done ?? ''];
}

async function sendList(request: FastifyRequest, reply: FastifyReply, error?: string): Promise<FastifyReply> {
  const providers = (await request.api<{ providers: { id: string; discovery: boolean }[] }>('GET', '/providers')).body.providers ?? [];
  const connections = (await request.api<{ connections: Connection[] }>('GET', '/connections')).body.connections ?? [];
  const notice = error ? undefined : noticeOf(request);
  return reply.type('text/html; charset=utf-8').send(
    page({
      title: 'Connections',
      section: 'connections',
      session: request.dashboard,
      ...(notice ? { notice } : {}),
      ...(error ? { error } : {}),
      body: html`<section class="card" aria-labelledby="connect-heading">
  <h2 id="connect-heading">Connect an account</h2>
  ${
    providers.length === 0
      ? html`<p>No OAuth providers are configured on this server (see <code>providers</code> in the configuration file).</p>`
      : html`<p>You will be sent to the provider to allow feedproxy, then brought back here.</p>
  <div class="actions">${providers.map(
    (provider) =>
      html`<form method="post" action="/dashboard/connections" class="inline">${csrfField(request.dashboard)}<input type="hidden" name="provider" value="${provider.id}"><button type="submit" class="primary">Connect ${provider.id}</button></form>`,
  )}</div>`
  }
</section>
<section aria-labelledby="list-heading">
  <h2 id="list-heading">Your connections (${connections.length})</h2>
  ${
    connections.length === 0
      ? html`<p>No connections yet.</p>`
      : html`<ul class="cards">${connections.map(
          (connection) => html`<li class="card">
    <h3>${connection.provider} <span class="badge status-${connection.status}">${connection.status}</span></h3>
    <p class="help">Since ${timeTag(connection.createdAt)}${
      Object.keys(connection.params).length
        ? html` · ${Object.entries(connection.params)
            .map(([key, value]) => `${key}: ${value}`)
            .join(', ')}`
        : ''
    }</p>
    ${
      connection.status === 'pending'
        ? html`<form method="post" action="/dashboard/connections/${connection.id}/verify" class="inline-field">
      ${csrfField(request.dashboard)}
      <label for="verifier-${connection.id}">Verifier code the provider showed (out-of-band providers)</label>
      <input id="verifier-${connection.id}" name="verifier" required autocomplete="off">
      <button type="submit">Finish connecting</button>
    </form>`
        : ''
    }
    <div class="actions">
      ${connection.status === 'connected' ? html`<a class="button-link" href="/dashboard/connections/${connection.id}">Feeds<span class="visually-hidden"> of ${connection.provider}</span></a>` : ''}
      ${postButton(request.dashboard, `/dashboard/connections/${connection.id}/relink`, `Relink ${connection.provider}`)}
      <a class="button-link danger-link" href="/dashboard/connections/${connection.id}/delete">Remove<span class="visually-hidden"> ${connection.provider}</span></a>
    </div>
  </li>`,
        )}</ul>`
  }
</section>`,
    }),
  );
}

async function sendFeeds(request: FastifyRequest, reply: FastifyReply, id: string, error?: string): Promise<FastifyReply> {
  const connection = await request.api<Connection>('GET', `/connections/${encodeURIComponent(id)}`);
  if (!connection.ok) return sendList(request, reply.code(connection.status), connection.message);
  const listed = await request.api<{ feeds: ProviderFeed[] }>('GET', `/connections/${encodeURIComponent(id)}/feeds`);
  const notice = error ? undefined : noticeOf(request);
  return reply.type('text/html; charset=utf-8').send(
    page({
      title: `${connection.body.provider} feeds`,
      section: 'connections',
      session: request.dashboard,
      ...(notice ? { notice } : {}),
      ...(error ? { error } : {}),
      body: html`<p><a href="/dashboard/connections">← All connections</a></p>
${
  listed.ok
    ? listed.body.feeds.length === 0
      ? html`<p>The provider lists no feeds for this account.</p>`
      : html`<ul class="cards">${listed.body.feeds.map(
          (feed) => html`<li class="card feed-offer">
    <div><h2 class="h3">${feed.title}</h2><code class="url">${maskUrl(feed.url)}</code></div>
    <form method="post" action="/dashboard/connections/${id}/add" class="inline">${csrfField(request.dashboard)}<input type="hidden" name="rel" value="${feed.rel}"><button type="submit" class="primary">Add as source<span class="visually-hidden">: ${feed.title}</span></button></form>
  </li>`,
        )}</ul>`
    : errorBox(listed.message)
}`,
    }),
  );
}
