// Sources: the list with status, add, edit, refresh now, delete (with a confirm page), recent items.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { SourceView } from '../api/views.js';
import { field, integerField } from './form.js';
import { html, type SafeHtml } from './html.js';
import { csrfField, page, postButton, timeTag } from './layout.js';

interface Item {
  id: string;
  title?: string;
  link?: string;
  published?: string;
  firstSeenAt: string;
}

const NOTICES: Record<string, string> = {
  added: 'Source added.',
  saved: 'Source saved.',
  refreshed: 'Source refreshed; its status below is the result.',
  deleted: 'Source deleted.',
};
const RECENT_ITEMS = 20;

type Params = { id: string };

export const sourcePages: FastifyPluginAsync = async (app) => {
  app.get('/dashboard/sources', async (request, reply) => sendList(request, reply));

  app.post('/dashboard/sources', async (request, reply) => {
    const refreshMinutes = integerField(request.body, 'refreshMinutes');
    const title = field(request.body, 'title').trim();
    const payload = {
      url: field(request.body, 'url').trim(),
      ...(title ? { title } : {}),
      ...(refreshMinutes === undefined ? {} : { refreshMinutes }),
    };
    const added = await request.api<SourceView>('POST', '/sources', payload);
    if (!added.ok) return sendList(request, reply.code(added.status), { error: added.message, values: request.body });
    return reply.redirect('/dashboard/sources?done=added', 303);
  });

  app.get<{ Params: Params }>('/dashboard/sources/:id', async (request, reply) => sendDetail(request, reply, request.params.id));

  app.post<{ Params: Params }>('/dashboard/sources/:id', async (request, reply) => {
    const refreshMinutes = integerField(request.body, 'refreshMinutes');
    const payload = { title: field(request.body, 'title').trim(), ...(refreshMinutes === undefined ? {} : { refreshMinutes }) };
    const saved = await request.api('PATCH', `/sources/${encodeURIComponent(request.params.id)}`, payload);
    if (!saved.ok) return sendDetail(request, reply.code(saved.status), request.params.id, saved.message);
    return reply.redirect(`/dashboard/sources/${encodeURIComponent(request.params.id)}?done=saved`, 303);
  });

  app.post<{ Params: Params }>('/dashboard/sources/:id/refresh', async (request, reply) => {
    const refreshed = await request.api('POST', `/sources/${encodeURIComponent(request.params.id)}/refresh`);
    if (!refreshed.ok) return sendDetail(request, reply.code(refreshed.status), request.params.id, refreshed.message);
    return reply.redirect(`/dashboard/sources/${encodeURIComponent(request.params.id)}?done=refreshed`, 303);
  });

  app.get<{ Params: Params }>('/dashboard/sources/:id/delete', async (request, reply) => {
    const source = await request.api<SourceView>('GET', `/sources/${encodeURIComponent(request.params.id)}`);
    if (!source.ok) return sendList(request, reply.code(source.status), { error: source.message });
    return reply.type('text/html; charset=utf-8').send(
      page({
        title: 'Delete source',
        section: 'sources',
        session: request.dashboard,
        body: html`<div class="card narrow">
  <p>Delete <strong>${source.body.title}</strong>? Its entries leave every merged feed that uses it. This cannot be undone.</p>
  <form method="post" action="/dashboard/sources/${source.body.id}/delete" class="actions">
    ${csrfField(request.dashboard)}
    <button type="submit" class="danger">Delete source</button>
    <a href="/dashboard/sources/${source.body.id}">Cancel</a>
  </form>
</div>`,
      }),
    );
  });

  app.post<{ Params: Params }>('/dashboard/sources/:id/delete', async (request, reply) => {
    const deleted = await request.api('DELETE', `/sources/${encodeURIComponent(request.params.id)}`);
    if (!deleted.ok) return sendList(request, reply.code(deleted.status), { error: deleted.message });
    return reply.redirect('/dashboard/sources?done=deleted', 303);
  });
};

function noticeOf(request: FastifyRequest): string | undefined {
  return NOTICES[(request.query as { done?: string }).done ?? ''];
}

export function statusBadge(source: Pick<SourceView, 'status'>): SafeHtml {
  return html`<span class="badge status-${source.status}">${source.status}</span>`;
}

async function sendList(request: FastifyRequest, reply: FastifyReply, failed?: { error: string; values?: unknown }): Promise<FastifyReply> {
  const { body } = await request.api<{ sources: SourceView[] }>('GET', '/sources');
  const sources = body.sources ?? [];
  const values = failed?.values;
  const notice = failed ? undefined : noticeOf(request);
  return reply.type('text/html; charset=utf-8').send(
    page({
      title: 'Sources',
      section: 'sources',
      session: request.dashboard,
      ...(notice ? { notice } : {}),
      body: html`<section aria-labelledby="add-heading" class="card">
  <h2 id="add-heading">Add a source</h2>
  ${failed ? html`<p class="error" role="alert" id="add-error"><strong>Error:</strong> ${failed.error}</p>` : ''}
  <form method="post" action="/dashboard/sources" class="add-source">
    ${csrfField(request.dashboard)}
    <div class="field grow">
      <label for="url">Feed or page URL</label>
      <input id="url" name="url" type="url" required inputmode="url" spellcheck="false" placeholder="https://example.com/feed?token=…" value="${field(values, 'url')}" aria-describedby="url-help${failed ? ' add-error' : ''}">
      <p id="url-help" class="help">A private feed URL with its token is fine: the token is stored sealed and shown masked.</p>
    </div>
    <div class="field">
      <label for="title">Title <span class="optional">(optional)</span></label>
      <input id="title" name="title" maxlength="300" value="${field(values, 'title')}">
    </div>
    <div class="field small">
      <label for="refreshMinutes">Refresh every (minutes)</label>
      <input id="refreshMinutes" name="refreshMinutes" type="number" min="1" max="1440" value="${field(values, 'refreshMinutes')}">
    </div>
    <button type="submit" class="primary">Add source</button>
  </form>
</section>
<section aria-labelledby="list-heading">
  <h2 id="list-heading">Your sources (${sources.length})</h2>
  ${
    sources.length === 0
      ? html`<p>No sources yet. Add a feed URL above, or connect a provider under <a href="/dashboard/connections">Connections</a>.</p>`
      : html`<div class="table-wrap" role="region" aria-labelledby="list-heading" tabindex="0">
  <table class="stack-on-phone">
    <thead><tr><th scope="col">Title</th><th scope="col">URL</th><th scope="col">Status</th><th scope="col">Items</th><th scope="col">Last success</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
    <tbody>
    ${sources.map(
      (source) => html`<tr>
      <th scope="row"><a href="/dashboard/sources/${source.id}">${source.title || '(untitled)'}</a></th>
      <td data-label="URL"><code class="url">${source.url}</code></td>
      <td data-label="Status">${statusBadge(source)}${source.lastError ? html`<br><span class="last-error">${source.lastError}</span>` : ''}<br><span class="help">Next fetch ${timeTag(source.nextFetchAt)}</span></td>
      <td class="number" data-label="Items">${source.entryCount}</td>
      <td data-label="Last success">${timeTag(source.lastSuccessAt)}</td>
      <td class="row-actions">${postButton(request.dashboard, `/dashboard/sources/${source.id}/refresh`, 'Refresh now')}<a href="/dashboard/sources/${source.id}/delete" class="button-link danger-link">Delete<span class="visually-hidden"> ${source.title}</span></a></td>
    </tr>`,
    )}
    </tbody>
  </table>
</div>`
  }
</section>`,
    }),
  );
}

async function sendDetail(request: FastifyRequest, reply: FastifyReply, id: string, error?: string): Promise<FastifyReply> {
  const path = `/sources/${encodeURIComponent(id)}`;
  const source = await request.api<SourceView>('GET', path);
  if (!source.ok) return sendList(request, reply.code(source.status), { error: source.message });
  const items = await request.api<{ items: Item[] }>('GET', `${path}/items`);
  const s = source.body;
  const notice = error ? undefined : noticeOf(request);
  return reply.type('text/html; charset=utf-8').send(
    page({
      title: s.title || 'Source',
      section: 'sources',
      session: request.dashboard,
      ...(notice ? { notice } : {}),
      ...(error ? { error } : {}),
      body: html`<p><a href="/dashboard/sources">← All sources</a></p>
<section class="card" aria-labelledby="status-heading">
  <h2 id="status-heading">Status</h2>
  <dl class="facts">
    <dt>URL</dt><dd><code class="url">${s.url}</code></dd>
    <dt>Status</dt><dd>${statusBadge(s)}${s.lastError ? html` <span class="last-error">${s.lastError}</span>` : ''}</dd>
    <dt>Items</dt><dd>${s.entryCount}</dd>
    <dt>Last success</dt><dd>${timeTag(s.lastSuccessAt)}</dd>
    <dt>Next fetch</dt><dd>${timeTag(s.nextFetchAt)}</dd>
  </dl>
  <div class="actions">${postButton(request.dashboard, `/dashboard/sources/${s.id}/refresh`, 'Refresh now')}<a class="button-link danger-link" href="/dashboard/sources/${s.id}/delete">Delete…</a></div>
</section>
<section class="card" aria-labelledby="edit-heading">
  <h2 id="edit-heading">Edit</h2>
  <form method="post" action="/dashboard/sources/${s.id}" class="stack">
    ${csrfField(request.dashboard)}
    <label for="title">Title</label>
    <input id="title" name="title" maxlength="300" value="${s.title}">
    <label for="refreshMinutes">Refresh every (minutes)</label>
    <input id="refreshMinutes" name="refreshMinutes" type="number" min="1" max="1440" value="${s.refreshMinutes}">
    <button type="submit" class="primary">Save</button>
  </form>
</section>
<section aria-labelledby="items-heading">
  <h2 id="items-heading">Recent items</h2>
  ${
    (items.body.items ?? []).length === 0
      ? html`<p>No items cached yet.</p>`
      : html`<ol class="items">${(items.body.items ?? [])
          .slice(0, RECENT_ITEMS)
          .map(
            (item) =>
              html`<li>${item.link && /^https?:/i.test(item.link) ? html`<a href="${item.link}" rel="noopener noreferrer">${item.title || item.link}</a>` : item.title || '(untitled)'} <span class="help">${timeTag(item.published ?? item.firstSeenAt)}</span></li>`,
          )}</ol>`
  }
</section>`,
    }),
  );
}
