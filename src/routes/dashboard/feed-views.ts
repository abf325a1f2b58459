// The pieces of the feed pages: the editor form, the preview list, the URL boxes with copy
// buttons, the subscriber table.
import type { SourceView } from '../api/views.js';
import { field, fields, integerField, lines } from './form.js';
import { html, type SafeHtml } from './html.js';
import { csrfField, postButton, timeTag } from './layout.js';
import type { DashboardSession } from './session.js';

export interface FeedOptions {
  prefixSourceTitle: boolean;
  summaryOnly: boolean;
  maxAgeDays: number;
  sourceInfo: boolean;
}
export interface FeedUrls {
  atom: string;
  rss: string;
  json: string;
  page: string;
}
export interface FeedView {
  id: string;
  title: string;
  sources: string[];
  include: string[];
  exclude: string[];
  limit: number;
  options: FeedOptions;
  urls: FeedUrls;
}
export interface FeedSettings {
  title: string;
  sources: string[];
  include: string[];
  exclude: string[];
  limit?: number;
  options: FeedOptions;
}
export interface PreviewEntry {
  id: string;
  title?: string;
  link?: string;
  published: string;
  summary?: string;
  source: { id: string; title: string };
}
export interface FeedToken {
  id: string;
  name: string;
  urls: FeedUrls;
  createdAt: string;
}
export interface TokenStats {
  id: string;
  requests: number;
  notModified: number;
  lastSeenAt: string | null;
  subscribers: number;
}

/** What the editor form posted, in the API's shape. */
export function settingsFromForm(body: unknown): FeedSettings {
  const limit = integerField(body, 'limit');
  return {
    title: field(body, 'title').trim(),
    sources: fields(body, 'sources'),
    include: lines(field(body, 'include')),
    exclude: lines(field(body, 'exclude')),
    ...(limit === undefined ? {} : { limit }),
    options: {
      prefixSourceTitle: field(body, 'prefixSourceTitle') === 'on',
      summaryOnly: field(body, 'summaryOnly') === 'on',
      sourceInfo: field(body, 'sourceInfo') === 'on',
      maxAgeDays: integerField(body, 'maxAgeDays') ?? 0,
    },
  };
}

export const NEW_FEED: FeedSettings = {
  title: '',
  sources: [],
  include: [],
  exclude: [],
  options: { prefixSourceTitle: false, summaryOnly: false, maxAgeDays: 0, sourceInfo: true },
};

function checkbox(name: string, label: string, checked: boolean, help: string): SafeHtml {
  return html`<div class="check"><input type="checkbox" id="${name}" name="${name}"${checked ? html` checked` : ''} aria-describedby="${name}-help"><label for="${name}">${label}</label><p id="${name}-help" class="help">${help}</p></div>`;
}

export function feedEditor(options: {
  session: DashboardSession | undefined;
  action: string;
  settings: FeedSettings;
  sources: SourceView[];
  isNew: boolean;
  preview?: SafeHtml;
}): SafeHtml {
  const { settings } = options;
  const selected = new Set(settings.sources);
  return html`<form method="post" action="${options.action}" class="card editor" data-preview="/dashboard/feeds/preview">
  ${csrfField(options.session)}
  <label for="title">Title</label>
  <input id="title" name="title" required maxlength="300" value="${settings.title}">
  <fieldset>
    <legend>Sources</legend>
    ${
      options.sources.length === 0
        ? html`<p>No sources yet: <a href="/dashboard/sources">add one first</a>.</p>`
        : options.sources.map(
            (source) =>
              html`<div class="check"><input type="checkbox" id="source-${source.id}" name="sources" value="${source.id}"${selected.has(source.id) ? html` checked` : ''}><label for="source-${source.id}">${source.title || source.url} <span class="help">(${source.entryCount} items, ${source.status})</span></label></div>`,
          )
    }
  </fieldset>
  <div class="two-columns">
    <div>
      <label for="include">Include only entries matching</label>
      <textarea id="include" name="include" rows="3" aria-describedby="rules-help">${settings.include.join('\n')}</textarea>
    </div>
    <div>
      <label for="exclude">Exclude entries matching</label>
      <textarea id="exclude" name="exclude" rows="3" aria-describedby="rules-help">${settings.exclude.join('\n')}</textarea>
    </div>
  </div>
  <p id="rules-help" class="help">One rule a line: a keyword (any case) or <code>/regex/flags</code>. Matched against title, summary and categories.</p>
  <fieldset>
    <legend>Options</legend>
    <div class="field small">
      <label for="limit">Entries published</label>
      <input id="limit" name="limit" type="number" min="1" max="500" value="${settings.limit ?? ''}" placeholder="50">
    </div>
    <div class="field small">
      <label for="maxAgeDays">Maximum age (days, 0 = any)</label>
      <input id="maxAgeDays" name="maxAgeDays" type="number" min="0" value="${settings.options.maxAgeDays}">
    </div>
    ${checkbox('prefixSourceTitle', 'Prefix titles with the source', settings.options.prefixSourceTitle, 'Entry titles read “Source: title”.')}
    ${checkbox('summaryOnly', 'Summaries only', settings.options.summaryOnly, 'Leave full content out of the feed.')}
    ${checkbox('sourceInfo', 'Name each entry’s source', settings.options.sourceInfo, 'Atom/RSS <source>, JSON Feed _feedproxy.source.')}
  </fieldset>
  <div class="actions">
    <button type="submit" name="action" value="save" class="primary">${options.isNew ? 'Create feed' : 'Save feed'}</button>
    <button type="submit" name="action" value="preview" formnovalidate>Preview</button>
  </div>
</form>
<section aria-labelledby="preview-heading" class="preview-section">
  <h2 id="preview-heading">Preview</h2>
  <div id="preview" aria-live="polite">${options.preview ?? html`<p class="help">Press Preview (or change a setting) to see the first entries this feed would publish.</p>`}</div>
</section>`;
}

export function previewList(entries: PreviewEntry[], error?: string): SafeHtml {
  if (error) return html`<p class="error" role="alert"><strong>Error:</strong> ${error}</p>`;
  if (entries.length === 0) return html`<p>No entries match: pick sources, or loosen the filters.</p>`;
  return html`<p class="help">The first ${entries.length} entries, newest first:</p>
<ol class="items">${entries.map(
    (
      entry,
    ) => html`<li><span class="entry-title">${entry.link && /^https?:/i.test(entry.link) ? html`<a href="${entry.link}" rel="noopener noreferrer">${entry.title || entry.link}</a>` : entry.title || '(untitled)'}</span>
  <span class="help">${entry.source.title} · ${timeTag(entry.published)}</span>${entry.summary ? html`<br><span class="summary">${entry.summary}</span>` : ''}</li>`,
  )}</ol>`;
}

/** A read-only URL box (selectable without JS) and a copy button that the script reveals. */
export function urlBox(id: string, label: string, url: string): SafeHtml {
  return html`<div class="url-box">
  <label for="${id}">${label}</label>
  <div class="url-row"><input id="${id}" type="text" readonly value="${url}" spellcheck="false"><button type="button" class="copy" data-copy="${id}" hidden>Copy<span class="visually-hidden"> ${label}</span></button></div>
</div>`;
}

export function feedUrls(feed: FeedView, session: DashboardSession | undefined): SafeHtml {
  return html`<section class="card" aria-labelledby="urls-heading">
  <h2 id="urls-heading">Public URLs</h2>
  <p class="help">Give one of these to a feed reader. Anyone with a URL can read the feed; rotate to replace them all.</p>
  ${urlBox('url-atom', 'Atom', feed.urls.atom)}
  ${urlBox('url-rss', 'RSS', feed.urls.rss)}
  ${urlBox('url-json', 'JSON Feed', feed.urls.json)}
  <p><a href="${feed.urls.atom}">Open the Atom feed</a> · <a href="${feed.urls.page}">Open the feed's page</a></p>
  <form method="post" action="/dashboard/feeds/${feed.id}/rotate" class="inline">${csrfField(session)}<button type="submit" class="danger" aria-describedby="rotate-help">Rotate URLs</button></form>
  <p id="rotate-help" class="help">New URLs for the default link; the old ones answer 404 at once. Subscriber URLs below are not affected.</p>
</section>`;
}

export function subscriberTable(feedId: string, tokens: FeedToken[], stats: TokenStats[], session: DashboardSession | undefined): SafeHtml {
  const statsOf = new Map(stats.map((entry) => [entry.id, entry]));
  return html`<div class="table-wrap" role="region" aria-labelledby="subscribers-heading" tabindex="0">
<table>
  <thead><tr><th scope="col">Name</th><th scope="col">Atom URL</th><th scope="col">Requests</th><th scope="col">304s</th><th scope="col">Subscribers</th><th scope="col">Last seen</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
  <tbody>${tokens.map((token) => {
    const usage = statsOf.get(token.id);
    return html`<tr>
    <th scope="row">${token.id === 'default' ? html`<em>default</em>` : token.name}</th>
    <td>${urlBox(`token-${token.id}`, `Atom URL of ${token.name}`, token.urls.atom)}</td>
    <td class="number">${usage?.requests ?? 0}</td>
    <td class="number">${usage?.notModified ?? 0}</td>
    <td class="number">${usage?.subscribers ?? 0}</td>
    <td>${timeTag(usage?.lastSeenAt)}</td>
    <td>${token.id === 'default' ? '' : postButton(session, `/dashboard/feeds/${feedId}/tokens/${token.id}/revoke`, `Revoke ${token.name}`, 'danger')}</td>
  </tr>`;
  })}</tbody>
</table>
</div>`;
}
