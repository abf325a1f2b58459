// Feeds: the list, the editor with its preview (a Preview button without JS, a live fetch with it),
// public URLs with copy buttons, rotate, per-subscriber URLs with their stats, requests per day.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { SourceView } from '../api/views.js';
import { requestsChart, type DayCount } from './chart.js';
import {
  feedEditor,
  feedUrls,
  NEW_FEED,
  previewList,
  settingsFromForm,
  subscriberTable,
  type FeedSettings,
  type FeedToken,
  type FeedView,
  type PreviewEntry,
  type TokenStats,
} from './feed-views.js';
import { field } from './form.js';
import { html, type SafeHtml } from './html.js';
import { csrfField, page } from './layout.js';

interface Stats {
  totals: { requests: number; notModified: number; subscribers: number };
  tokens: TokenStats[];
  days: DayCount[];
}

const NOTICES: Record<string, string> = {
  created: 'Feed created. Its public URLs are below.',
  saved: 'Feed saved; its URLs stay the same.',
  rotated: 'New URLs: the old default URLs now answer 404.',
  'token-created': 'Subscriber URL created.',
  'token-revoked': 'Subscriber URL revoked: it answers 404 from now on.',
  deleted: 'Feed deleted.',
};

type Params = { id: string };
type Failure = { error: string; status: number };

export const feedPages: FastifyPluginAsync = async (app) => {
  app.get('/dashboard/feeds', async (request, reply) => sendList(request, reply));

  app.get('/dashboard/feeds/new', async (request, reply) => sendNew(request, reply, NEW_FEED));

  app.post('/dashboard/feeds', async (request, reply) => {
    const settings = settingsFromForm(request.body);
    if (field(request.body, 'action') === 'preview') return sendNew(request, reply, settings, await previewOf(request, settings));
    const created = await request.api<FeedView>('POST', '/feeds', settings);
    if (!created.ok) return sendNew(request, reply.code(created.status), settings, undefined, created.message);
    return reply.redirect(`/dashboard/feeds/${encodeURIComponent(created.body.id)}?done=created`, 303);
  });

  // The live preview's fragment (dashboard.js posts the editor form here as it changes).
  app.post('/dashboard/feeds/preview', async (request, reply) =>
    reply.type('text/html; charset=utf-8').send(String(await previewOf(request, settingsFromForm(request.body)))),
  );

  app.get<{ Params: Params }>('/dashboard/feeds/:id', async (request, reply) => sendFeed(request, reply, request.params.id));

  app.post<{ Params: Params }>('/dashboard/feeds/:id', async (request, reply) => {
    const settings = settingsFromForm(request.body);
    const { id } = request.params;
    if (field(request.body, 'action') === 'preview')
      return sendFeed(request, reply, id, { settings, preview: await previewOf(request, settings) });
    const saved = await request.api('PATCH', `/feeds/${encodeURIComponent(id)}`, settings);
    if (!saved.ok) return sendFeed(request, reply.code(saved.status), id, { settings, error: saved.message });
    return reply.redirect(`/dashboard/feeds/${encodeURIComponent(id)}?done=saved`, 303);
  });

  app.post<{ Params: Params }>('/dashboard/feeds/:id/rotate', async (request, reply) => {
    const rotated = await request.api('POST', `/feeds/${encodeURIComponent(request.params.id)}/rotate`);
    if (!rotated.ok) return sendFeed(request, reply.code(rotated.status), request.params.id, { error: rotated.message });
    return reply.redirect(`/dashboard/feeds/${encodeURIComponent(request.params.id)}?done=rotated#urls-heading`, 303);
  });

  app.post<{ Params: Params }>('/dashboard/feeds/:id/tokens', async (request, reply) => {
    const created = await request.api('POST', `/feeds/${encodeURIComponent(request.params.id)}/tokens`, {
      name: field(request.body, 'name').trim(),
    });
    if (!created.ok) return sendFeed(request, reply.code(created.status), request.params.id, { tokenError: created.message });
    return reply.redirect(`/dashboard/feeds/${encodeURIComponent(request.params.id)}?done=token-created#subscribers-heading`, 303);
  });

  app.post<{ Params: Params & { tokenId: string } }>('/dashboard/feeds/:id/tokens/:tokenId/revoke', async (request, reply) => {
    const { id, tokenId } = request.params;
    const revoked = await request.api('DELETE', `/feeds/${encodeURIComponent(id)}/tokens/${encodeURIComponent(tokenId)}`);
    if (!revoked.ok) return sendFeed(request, reply.code(revoked.status), id, { tokenError: revoked.message });
    return reply.redirect(`/dashboard/feeds/${encodeURIComponent(id)}?done=token-revoked#subscribers-heading`, 303);
  });

  app.get<{ Params: Params }>('/dashboard/feeds/:id/delete', async (request, reply) => {
    const feed = await request.api<FeedView>('GET', `/feeds/${encodeURIComponent(request.params.id)}`);
    if (!feed.ok) return sendList(request, reply.code(feed.status), { error: feed.message, status: feed.status });
    return reply.type('text/html; charset=utf-8').send(
      page({
        title: 'Delete feed',
        section: 'feeds',
        session: request.dashboard,
        body: html`<div class="card narrow">
  <p>Delete <strong>${feed.body.title}</strong>? All its public URLs, subscriber URLs included, answer 404 from then on. Its sources stay.</p>
  <form method="post" action="/dashboard/feeds/${feed.body.id}/delete" class="actions">
    ${csrfField(request.dashboard)}
    <button type="submit" class="danger">Delete feed</button>
    <a href="/dashboard/feeds/${feed.body.id}">Cancel</a>
  </form>
</div>`,
      }),
    );
  });

  app.post<{ Params: Params }>('/dashboard/feeds/:id/delete', async (request, reply) => {
    const deleted = await request.api('DELETE', `/feeds/${encodeURIComponent(request.params.id)}`);
    if (!deleted.ok) return sendList(request, reply.code(deleted.status), { error: deleted.message, status: deleted.status });
    return reply.redirect('/dashboard/feeds?done=deleted', 303);
  });
};

function noticeOf(request: FastifyRequest): string | undefined {
  return NOTICES[(request.query as { done?: string }).done ?? ''];
}

async function previewOf(request: FastifyRequest, settings: FeedSettings): Promise<SafeHtml> {
  const { title: _title, ...body } = settings;
  const preview = await request.api<{ entries: PreviewEntry[] }>('POST', '/feeds/preview', body);
  return preview.ok ? previewList(preview.body.entries) : previewList([], preview.message);
}

async function listSources(request: FastifyRequest): Promise<SourceView[]> {
  return (await request.api<{ sources: SourceView[] }>('GET', '/sources')).body.sources ?? [];
}

async function sendList(request: FastifyRequest, reply: FastifyReply, failure?: Failure): Promise<FastifyReply> {
  const feeds = (await request.api<{ feeds: FeedView[] }>('GET', '/feeds')).body.feeds ?? [];
  const notice = failure ? undefined : noticeOf(request);
  return reply.type('text/html; charset=utf-8').send(
    page({
      title: 'Feeds',
      section: 'feeds',
      session: request.dashboard,
      ...(notice ? { notice } : {}),
      ...(failure ? { error: failure.error } : {}),
      body: html`<p><a class="button-link primary" href="/dashboard/feeds/new">New merged feed</a></p>
<section aria-labelledby="list-heading">
  <h2 id="list-heading">Your feeds (${feeds.length})</h2>
  ${
    feeds.length === 0
      ? html`<p>No feeds yet. A feed merges sources into one public Atom/RSS/JSON URL.</p>`
      : html`<ul class="cards">${feeds.map(
          (feed) =>
            html`<li class="card"><h3><a href="/dashboard/feeds/${feed.id}">${feed.title}</a></h3><p class="help">${feed.sources.length} sources · up to ${feed.limit} entries${feed.include.length + feed.exclude.length ? ` · ${feed.include.length + feed.exclude.length} filter rules` : ''}</p></li>`,
        )}</ul>`
  }
</section>`,
    }),
  );
}

async function sendNew(
  request: FastifyRequest,
  reply: FastifyReply,
  settings: FeedSettings,
  preview?: SafeHtml,
  error?: string,
): Promise<FastifyReply> {
  const sources = await listSources(request);
  return reply.type('text/html; charset=utf-8').send(
    page({
      title: 'New merged feed',
      section: 'feeds',
      session: request.dashboard,
      ...(error ? { error } : {}),
      body: html`<p><a href="/dashboard/feeds">← All feeds</a></p>${feedEditor({ session: request.dashboard, action: '/dashboard/feeds', settings, sources, isNew: true, ...(preview ? { preview } : {}) })}`,
    }),
  );
}

interface FeedPageState {
  settings?: FeedSettings;
  preview?: SafeHtml;
  error?: string;
  tokenError?: string;
}

async function sendFeed(request: FastifyRequest, reply: FastifyReply, id: string, state: FeedPageState = {}): Promise<FastifyReply> {
  const path = `/feeds/${encodeURIComponent(id)}`;
  const feed = await request.api<FeedView>('GET', path);
  if (!feed.ok) return sendList(request, reply.code(feed.status), { error: feed.message, status: feed.status });
  const [sources, tokens, stats] = await Promise.all([
    listSources(request),
    request.api<{ tokens: FeedToken[] }>('GET', `${path}/tokens`),
    request.api<Stats>('GET', `${path}/stats`),
  ]);
  const f = feed.body;
  const settings = state.settings ?? {
    title: f.title,
    sources: f.sources,
    include: f.include,
    exclude: f.exclude,
    limit: f.limit,
    options: f.options,
  };
  const notice = state.error || state.tokenError ? undefined : noticeOf(request);
  return reply.type('text/html; charset=utf-8').send(
    page({
      title: f.title,
      section: 'feeds',
      session: request.dashboard,
      ...(notice ? { notice } : {}),
      ...(state.error ? { error: state.error } : {}),
      body: html`<p><a href="/dashboard/feeds">← All feeds</a></p>
<div class="feed-layout">
<div>
${feedEditor({ session: request.dashboard, action: `/dashboard/feeds/${f.id}`, settings, sources, isNew: false, preview: state.preview ?? (await previewOf(request, settings)) })}
</div>
<div>
${feedUrls(f, request.dashboard)}
</div>
</div>
<section class="card" aria-labelledby="subscribers-heading">
  <h2 id="subscribers-heading">Subscriber URLs</h2>
  <p class="help">One URL per reader or person, each revocable on its own, each counted apart.</p>
  ${state.tokenError ? html`<p class="error" role="alert"><strong>Error:</strong> ${state.tokenError}</p>` : ''}
  ${tokens.ok ? subscriberTable(f.id, tokens.body.tokens, stats.ok ? stats.body.tokens : [], request.dashboard) : html`<p class="error">${tokens.message}</p>`}
  <form method="post" action="/dashboard/feeds/${f.id}/tokens" class="inline-field">
    ${csrfField(request.dashboard)}
    <label for="token-name">New subscriber URL, named</label>
    <input id="token-name" name="name" required maxlength="100" placeholder="phone">
    <button type="submit">Create URL</button>
  </form>
</section>
<section class="card" aria-labelledby="usage-heading">
  <h2 id="usage-heading">Usage</h2>
  ${
    stats.ok
      ? html`<p>Requests: ${stats.body.totals.requests}, of which ${stats.body.totals.notModified} answered 304 Not Modified; subscribers reported by readers: ${stats.body.totals.subscribers}.</p>${requestsChart(stats.body.days)}`
      : html`<p class="error">${stats.message}</p>`
  }
</section>
<p><a class="button-link danger-link" href="/dashboard/feeds/${f.id}/delete">Delete this feed…</a></p>`,
    }),
  );
}
