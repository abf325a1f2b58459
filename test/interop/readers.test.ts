// What real feed readers make of our published feeds: five real-world sources from two tokenized
// upstreams, merged by the real app listening on 127.0.0.1, read by xmllint, Universal Feed Parser,
// newsboat and the W3C feed validator. A reader that isn't installed skips its check and names the
// Debian package; nothing here talks to anything but 127.0.0.1.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { readFixture, startUpstream, type Upstream, type UpstreamHandler } from '../helpers/upstream.js';
import { SYSTEM_PYTHON, findOnPath, hasPythonModules, isolatedEnv, run } from './tools.js';

// The token netflix-queue.atom was captured with: the feed repeats it in its links and content.
const QUEUE_TOKEN = 'T1SECRETu5cVd3sK9wPz7Qn2LmJfXy0Ha8Rb--';
const RDF_TOKEN = 'R3secretRdfTokenp6Hs1Jy5Cf9Zu2Eq7';
const FEED_VALIDATOR = process.env.FEEDVALIDATOR ?? '/tmp/fv';

const xmllint = findOnPath('xmllint');
const newsboat = findOnPath('newsboat');
const hasFeedparser = hasPythonModules('feedparser');
// feedparser reads JSON Feed only from its 6.1 development line on; Debian's 6.0.x has no such parser.
const feedparserReadsJson = hasFeedparser && hasPythonModules('feedparser.parsers.json');
const hasValidator = existsSync(join(FEED_VALIDATOR, 'src', 'demo.py')) && hasPythonModules('html5lib');

const FORMATS = ['atom', 'rss', 'json'] as const;
type Format = (typeof FORMATS)[number];
const XML_FORMATS = ['atom', 'rss'] as const;

/** Serves a fixture only to requests carrying the right feed_token, as private feed hosts do. */
function serveTokenized(fixture: string, contentType: string, token?: string): UpstreamHandler {
  const body = readFixture(`feeds/${fixture}`);
  return (request, response) => {
    const url = new URL(request.url ?? '/', 'http://upstream');
    if (token !== undefined && url.searchParams.get('feed_token') !== token) {
      response.writeHead(403, { 'content-type': 'text/plain' }).end('bad token');
      return;
    }
    response.writeHead(200, { 'content-type': contentType, 'content-length': String(body.length) }).end(body);
  };
}

/** Undoes one level of XML escaping: the HTML a reader renders from escaped or CDATA content. */
function decodeXmlText(xml: string): string {
  return xml
    .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1')
    .replace(/&#x([0-9a-f]+);/gi, (_match, hex: string) => String.fromCodePoint(Number.parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_match, decimal: string) => String.fromCodePoint(Number.parseInt(decimal, 10)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

interface FeedparserResult {
  version: string;
  bozo: boolean;
  bozo_exception: string;
  titles: string[];
  /** Each entry's source title (Atom atom:source, RSS <source>), or null. */
  sources: Array<string | null>;
  hubs: string[];
}

// A title of type html (Atom's type="html") comes back as markup; a reader shows its text.
const FEEDPARSER_SCRIPT = `
import html, json, re, sys, feedparser
def shown(entry):
    title = entry.get("title", "")
    if entry.get("title_detail", {}).get("type") == "text/html":
        title = html.unescape(re.sub(r"<[^>]*>", "", title))
    return title
d = feedparser.parse(open(sys.argv[1], "rb").read())
print(json.dumps({"version": d.get("version", ""), "bozo": bool(d.bozo), "bozo_exception": str(d.get("bozo_exception", "")),
                  "titles": [shown(e) for e in d.entries],
                  "sources": [e["source"].get("title") if "source" in e else None for e in d.entries],
                  "hubs": [l["href"] for l in d.feed.get("links", []) if l.get("rel") == "hub"]}))
`;

describe('real feed readers accept our published feeds', () => {
  let queueHost: Upstream;
  let notesHost: Upstream;
  let t: TestApp;
  let dir: string;
  /** HOME and XDG dirs of every reader but newsboat, which gets one per format. */
  let env: NodeJS.ProcessEnv;
  const urls = {} as Record<Format, string>;
  /** The public URLs, as the feed's own links name them. */
  const urlsPublished = {} as Record<Format, string>;
  const bodies = {} as Record<Format, string>;
  const files = {} as Record<Format, string>;
  let jsonTitles: string[];
  /** Each JSON Feed item's _feedproxy.source. */
  let jsonSources: Array<{ title: string; url?: string } | undefined>;

  beforeAll(async () => {
    queueHost = await startUpstream({
      '/queue': serveTokenized('netflix-queue.atom', 'application/atom+xml', QUEUE_TOKEN),
      '/podcast.rss': serveTokenized('podcast.rss', 'application/rss+xml'),
    });
    notesHost = await startUpstream({
      '/slashdot.rdf': serveTokenized('rdf.rdf', 'application/rdf+xml', RDF_TOKEN),
      '/notes.json': serveTokenized('jsonfeed-1.1.json', 'application/feed+json'),
      '/hostile.rss': serveTokenized('hostile-html.rss', 'application/rss+xml'),
    });
    t = await startTestApp({ allowPrivate: [queueHost.hostPort, notesHost.hostPort] });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.server.address() as AddressInfo;
    const base = `http://127.0.0.1:${port}`;

    const alice = await t.createUserKey('alice');
    const sources: string[] = [];
    for (const url of [
      queueHost.url(`/queue?feed_token=${QUEUE_TOKEN}&output=atom`),
      queueHost.url('/podcast.rss'),
      notesHost.url(`/slashdot.rdf?feed_token=${RDF_TOKEN}`),
      notesHost.url('/notes.json'),
      notesHost.url('/hostile.rss'),
    ]) {
      const created = await t.api(alice, { method: 'POST', url: '/api/v1/sources', payload: { url } });
      expect(created.statusCode, created.body).toBe(201);
      sources.push(created.json().id);
    }
    const feed = await t.api(alice, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Everything, merged', sources } });
    expect(feed.statusCode, feed.body).toBe(201);

    dir = mkdtempSync(join(tmpdir(), 'feedproxy-interop-'));
    env = isolatedEnv(mkdtempSync(join(dir, 'home-')));
    for (const format of FORMATS) {
      const published: string = feed.json().urls[format];
      urlsPublished[format] = published;
      expect(published.startsWith(`${PUBLIC_URL}/`)).toBe(true);
      urls[format] = base + published.slice(PUBLIC_URL.length);
      const response = await fetch(urls[format]);
      expect(response.status).toBe(200);
      bodies[format] = await response.text();
      files[format] = join(dir, `merged.${format}`);
      writeFileSync(files[format], bodies[format]);
    }
    const jsonItems = (
      JSON.parse(bodies.json) as { items: Array<{ title?: string; _feedproxy?: { source?: { title: string; url?: string } } }> }
    ).items;
    jsonTitles = jsonItems.map((item) => item.title ?? '');
    jsonSources = jsonItems.map((item) => item._feedproxy?.source);
  });

  afterAll(async () => {
    await t?.close();
    await queueHost?.close();
    await notesHost?.close();
    // KEEP_INTEROP=1 leaves the published feeds on disk to look at when a reader disagrees.
    if (dir && !process.env.KEEP_INTEROP) rmSync(dir, { recursive: true, force: true });
  });

  it('merges every entry of the five sources into one JSON Feed 1.1', () => {
    const json = JSON.parse(bodies.json) as { version: string; title: string; items: Array<{ id?: unknown }> };
    expect(json.version).toBe('https://jsonfeed.org/version/1.1');
    expect(json.title).toBe('Everything, merged');
    // netflix-queue 4 + podcast 3 + rdf 3 + jsonfeed-1.1 3 + hostile 2
    expect(json.items).toHaveLength(15);
    for (const item of json.items) expect(item.id).toEqual(expect.any(String));
  });

  it('publishes no feed_token, script, javascript: URL or event handler in any format', () => {
    for (const format of FORMATS) {
      // The bytes, and what a reader gets once it has undone the format's own escaping.
      const readable = format === 'json' ? collectStrings(JSON.parse(bodies[format])).join('\n') : decodeXmlText(bodies[format]);
      for (const text of [bodies[format], readable]) {
        expect(text, format).not.toContain(QUEUE_TOKEN);
        expect(text, format).not.toContain(RDF_TOKEN);
        expect(text, format).not.toMatch(/feed_token=(?!REDACTED\b)[^&"'<\s]/);
        expect(text, format).not.toMatch(/<script/i);
        expect(text, format).not.toMatch(/javascript:/i);
        expect(text, format).not.toMatch(/onerror\s*=/i);
      }
    }
  });

  it("hands readers documents with the browser stylesheet, the hub, rel=self and each entry's source", () => {
    const hub = `${PUBLIC_URL}/websub`;
    for (const format of XML_FORMATS) {
      // Line 1 is the XML declaration; the instruction must come before the root element.
      expect(bodies[format].split('\n')[1], format).toBe(`<?xml-stylesheet type="text/xsl" href="${PUBLIC_URL}/feed.xsl"?>`);
    }
    expect(bodies.atom).toContain(`<link rel="self" href="${urlsPublished.atom}"/>`);
    expect(bodies.atom).toContain(`<link rel="hub" href="${hub}"/>`);
    expect(bodies.rss).toContain(`<atom:link href="${urlsPublished.rss}" rel="self" type="application/rss+xml"/>`);
    expect(bodies.rss).toContain(`<atom:link href="${hub}" rel="hub"/>`);
    const json = JSON.parse(bodies.json) as { feed_url: string; hubs: unknown };
    expect(json.feed_url).toBe(urlsPublished.json);
    expect(json.hubs).toEqual([{ type: 'WebSub', url: hub }]);
    // Every merged entry names its source (the feed option sourceInfo is on by default).
    expect(jsonSources.every((source) => typeof source?.title === 'string' && source.title !== '')).toBe(true);
    expect(bodies.json).not.toContain('stylesheet');
  });

  it.skipIf(!xmllint)('xmllint finds the Atom and RSS well-formed (needs libxml2-utils)', async () => {
    for (const format of XML_FORMATS) {
      const result = await run(xmllint!, ['--noout', '--nonet', files[format]], { env, timeoutMs: 30_000 });
      expect(result.code, `${format}: ${result.stderr}`).toBe(0);
    }
  });

  it.skipIf(!hasFeedparser)(
    'Universal Feed Parser reads the Atom and RSS without bozo, every title intact (needs python3-feedparser)',
    async () => {
      for (const format of XML_FORMATS) {
        const parsed = await parseWithFeedparser(files[format], env);
        expect(parsed.bozo, `${format}: ${parsed.bozo_exception}`).toBe(false);
        expect(parsed.version, format).toBe(format === 'atom' ? 'atom10' : 'rss20');
        expect(parsed.titles, format).toEqual(jsonTitles);
        expect(parsed.hubs, format).toEqual([`${PUBLIC_URL}/websub`]);
        // Atom names every source; RSS only those with a home page (<source> requires its url).
        const expected = jsonSources.map((source) => (format === 'atom' || source?.url !== undefined ? (source?.title ?? null) : null));
        expect(parsed.sources, format).toEqual(expected);
      }
    },
  );

  it.skipIf(!feedparserReadsJson)(
    'Universal Feed Parser reads the JSON Feed (skipped: Debian python3-feedparser 6.0.x has no JSON Feed parser; needs feedparser ≥ 6.1)',
    async () => {
      const parsed = await parseWithFeedparser(files.json, env);
      expect(parsed.bozo, parsed.bozo_exception).toBe(false);
      expect(parsed.version).toMatch(/^json1/);
      expect(parsed.titles).toEqual(jsonTitles);
    },
  );

  it.skipIf(!newsboat)('newsboat counts every entry of the Atom and RSS as unread (needs newsboat)', async () => {
    for (const format of XML_FORMATS) {
      const home = mkdtempSync(join(dir, `newsboat-${format}-`));
      const newsboatEnv = isolatedEnv(home);
      const urlsFile = join(home, 'urls');
      writeFileSync(urlsFile, `${urls[format]}\n`);
      const common = ['-u', urlsFile, '-c', join(home, 'cache.db'), '-C', '/dev/null'];
      const reload = await run(newsboat!, [...common, '-x', 'reload'], { env: newsboatEnv, timeoutMs: 60_000 });
      expect(reload.code, `${format}: ${reload.stderr}`).toBe(0);
      const unread = await run(newsboat!, [...common, '-x', 'print-unread'], { env: newsboatEnv, timeoutMs: 60_000 });
      expect(unread.code, `${format}: ${unread.stderr}`).toBe(0);
      expect(unread.stdout.trim(), format).toBe(`${jsonTitles.length} unread articles`);
    }
  });

  it.skipIf(!hasValidator)(
    `the W3C feed validator finds no errors in the Atom and RSS (needs a clone of github:w3c/feedvalidator at ${FEED_VALIDATOR} and python3-html5lib)`,
    async () => {
      for (const format of XML_FORMATS) {
        const result = await run(SYSTEM_PYTHON, ['demo.py', files[format], 'A'], {
          env,
          cwd: join(FEED_VALIDATOR, 'src'),
          timeoutMs: 120_000,
        });
        expect(result.code, `${format}:\n${result.stdout}${result.stderr}`).toBe(0);
        expect(result.stdout, format).toContain('No errors or warnings');
      }
    },
  );
});

async function parseWithFeedparser(file: string, env: NodeJS.ProcessEnv): Promise<FeedparserResult> {
  const result = await run(SYSTEM_PYTHON, ['-c', FEEDPARSER_SCRIPT, file], { env, timeoutMs: 60_000 });
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as FeedparserResult;
}

/** Every string value in a parsed JSON document, so escapes like \u003c can't hide a vector. */
function collectStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(collectStrings);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(collectStrings);
  return [];
}
