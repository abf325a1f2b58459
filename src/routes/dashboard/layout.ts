// The page shell every dashboard page shares: landmarks, a skip link, the navigation, notices.
import { html, type HtmlValue, type SafeHtml } from './html.js';
import type { DashboardSession } from './session.js';

export type Section = 'sources' | 'feeds' | 'connections' | 'sign-in';

export interface PageOptions {
  title: string;
  section: Section;
  session?: DashboardSession;
  /** A fixed notice chosen by the handler (never text from the query). */
  notice?: string;
  /** An error to show above the content, e.g. the API's message. */
  error?: string;
  body: HtmlValue;
}

const NAV: { section: Section; label: string; href: string }[] = [
  { section: 'sources', label: 'Sources', href: '/dashboard/sources' },
  { section: 'feeds', label: 'Feeds', href: '/dashboard/feeds' },
  { section: 'connections', label: 'Connections', href: '/dashboard/connections' },
];

export function page(options: PageOptions): string {
  const signedIn = options.session?.apiKey !== undefined;
  return `<!doctype html>\n${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${options.title} — feedproxy</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/assets/dashboard.css">
<script src="/dashboard/assets/dashboard.js" defer></script>
</head>
<body>
<a class="skip-link" href="#main">Skip to content</a>
<header class="site-header">
  <a class="brand" href="/dashboard">feedproxy</a>
  ${
    signedIn
      ? html`<nav aria-label="Main">
    <ul>${NAV.map((item) => html`<li><a href="${item.href}"${item.section === options.section ? html` aria-current="page"` : ''}>${item.label}</a></li>`)}</ul>
  </nav>
  <form method="post" action="/dashboard/sign-out" class="sign-out">${csrfField(options.session)}<button type="submit" class="link-button">Sign out</button></form>`
      : ''
  }
</header>
<main id="main" tabindex="-1">
<h1>${options.title}</h1>
${options.notice ? html`<p class="notice" role="status">${options.notice}</p>` : ''}
${options.error ? errorBox(options.error) : ''}
${options.body}
</main>
<footer class="site-footer"><p>feedproxy dashboard · everything here is also in the <a href="/docs">API</a></p></footer>
</body>
</html>
`}`;
}

export function errorBox(message: string): SafeHtml {
  return html`<p class="error" role="alert"><strong>Error:</strong> ${message}</p>`;
}

export function csrfField(session: DashboardSession | undefined): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${session?.csrf ?? ''}">`;
}

/** A one-button form (refresh, rotate, revoke…): a POST with the CSRF token. */
export function postButton(session: DashboardSession | undefined, action: string, label: string, className = ''): SafeHtml {
  return html`<form method="post" action="${action}" class="inline">${csrfField(session)}<button type="submit" class="${className}">${label}</button></form>`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  return iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC');
}

export function timeTag(iso: string | null | undefined): SafeHtml {
  return iso ? html`<time datetime="${iso}">${formatTime(iso)}</time>` : html`—`;
}
