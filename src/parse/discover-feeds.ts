// The only import of htmlparser2: tells an HTML page from a feed and finds the feeds a page
// advertises with <link rel="alternate"> (RSS Autodiscovery, https://www.rssboard.org/rss-autodiscovery).
import { Parser } from 'htmlparser2';

export interface DiscoveredFeed {
  url: string;
  type: string;
  title?: string;
}

// Preference order when a page offers several formats: Atom, then RSS, then JSON Feed.
const FEED_TYPE_RANK: Record<string, number> = {
  'application/atom+xml': 0,
  'application/rss+xml': 1,
  'application/feed+json': 2,
  'application/json': 3,
};

const SNIFF_LENGTH = 1024;
// <link> belongs in <head>; a page that has not finished its head by here is not worth reading on.
const MAX_SCANNED_CHARS = 1024 * 1024;
// htmlparser2 slows down quadratically with open-element depth; no real <head> nests this deep.
const MAX_OPEN_DEPTH = 256;
/**
 * Elements that end the head as <body> does (HTML's "in head" insertion mode closes it for any other
 * start tag): <svg> and <math> open foreign content, where htmlparser2 keeps a context entry for each
 * element, even `<svg/>`, that it never drops — every later tag then cost more, quadratic in the page
 * (a 1 MB page of `<svg/>`, 4.6 s; the depth guard never saw them, each closing at once).
 */
const HEAD_ENDS = new Set(['body', 'svg', 'math']);

/** Text of the first bytes, enough to see the root element (ASCII-compatible encodings and UTF-16). */
function readHead(body: Buffer | string): string {
  if (typeof body === 'string') return body.slice(0, SNIFF_LENGTH);
  const head = body.subarray(0, SNIFF_LENGTH);
  if (head[0] === 0xff && head[1] === 0xfe) return new TextDecoder('utf-16le').decode(head);
  if (head[0] === 0xfe && head[1] === 0xff) return new TextDecoder('utf-16be').decode(head);
  return head.toString('latin1');
}

/** The document with its prolog (BOM, whitespace, XML declaration, comments, PIs) skipped. */
function skipProlog(text: string): string {
  let rest = text.replace(/^\uFEFF/, '').trimStart();
  for (;;) {
    const end = rest.startsWith('<?') ? rest.indexOf('?>') + 2 : rest.startsWith('<!--') ? rest.indexOf('-->') + 3 : 0;
    if (end <= 2) return rest;
    rest = rest.slice(end).trimStart();
  }
}

/**
 * Whether a body is an HTML page rather than a feed. The bytes decide when they can (servers
 * label feeds text/html and pages text/xml often enough); the Content-Type breaks the tie.
 */
export function isHtmlDocument(body: Buffer | string, contentType?: string): boolean {
  const start = skipProlog(readHead(body)).slice(0, 64).toLowerCase();
  if (/^<!doctype\s+html/.test(start) || /^<(?:html|head|body)[\s>]/.test(start)) return true;
  if (/^<(?:[\w-]+:)?(?:rss|feed|rdf)[\s>]/.test(start) || start.startsWith('{') || start.startsWith('<!doctype')) return false;
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  return mediaType === 'text/html' || mediaType === 'application/xhtml+xml';
}

function resolveHttpUrl(href: string, base: string): string | undefined {
  try {
    const url = new URL(href.trim(), base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The feeds an HTML page links to with `<link rel="alternate" type="…">`, resolved against the
 * page's `<base href>` or `baseUrl`, http(s) only, deduplicated, Atom first, then RSS, then JSON.
 */
export function discoverFeedLinks(html: string, baseUrl: string): DiscoveredFeed[] {
  const found: Array<DiscoveredFeed & { rank: number; order: number }> = [];
  const seen = new Set<string>();
  let base = baseUrl;
  let baseSeen = false;
  let depth = 0;

  const parser: Parser = new Parser(
    {
      onclosetag() {
        depth = Math.max(0, depth - 1);
      },
      onopentag(name, attributes) {
        depth++;
        if (HEAD_ENDS.has(name) || depth > MAX_OPEN_DEPTH) {
          parser.pause();
          return;
        }
        if (name === 'base' && !baseSeen && attributes.href !== undefined) {
          // Only the first <base href> counts (HTML §4.2.3).
          baseSeen = true;
          base = resolveHttpUrl(attributes.href, baseUrl) ?? baseUrl;
          return;
        }
        if (name !== 'link' || attributes.href === undefined) return;
        const rels = (attributes.rel ?? '').toLowerCase().split(/\s+/);
        if (!rels.includes('alternate') || rels.includes('stylesheet')) return;
        const type = (attributes.type ?? '').split(';')[0]!.trim().toLowerCase();
        const rank = FEED_TYPE_RANK[type];
        if (rank === undefined) return;
        const url = resolveHttpUrl(attributes.href, base);
        if (url === undefined || seen.has(url)) return;
        seen.add(url);
        const title = attributes.title?.replace(/\s+/g, ' ').trim();
        found.push({ url, type, ...(title ? { title } : {}), rank, order: found.length });
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html.length > MAX_SCANNED_CHARS ? html.slice(0, MAX_SCANNED_CHARS) : html);
  parser.end();

  return found
    .sort((a, b) => a.rank - b.rank || a.order - b.order)
    .map(({ url, type, title }) => (title === undefined ? { url, type } : { url, type, title }));
}
