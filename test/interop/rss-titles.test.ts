// RSS titles carry no type: what Universal Feed Parser, newsboat and the W3C validator make of the
// titles we publish. A reader that isn't installed skips its check and names the Debian package.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CachedEntry } from '../../src/model.js';
import { renderFeed } from '../../src/render/render-feed.js';
import { fixtureInput } from '../render/fixture.js';
import { SYSTEM_PYTHON, findOnPath, hasPythonModules, isolatedEnv, run } from './tools.js';

const FEED_VALIDATOR = process.env.FEEDVALIDATOR ?? '/tmp/fv';
const newsboat = findOnPath('newsboat');
const hasFeedparser = hasPythonModules('feedparser');
const hasValidator = existsSync(join(FEED_VALIDATOR, 'src', 'demo.py')) && hasPythonModules('html5lib');

// The title a reader shows: a title feedparser took for HTML has its tags out and its references decoded.
const FEEDPARSER_TITLES = `
import html, json, re, sys, feedparser
d = feedparser.parse(open(sys.argv[1], "rb").read())
def shown(detail, value):
    return html.unescape(re.sub(r"<[^>]*>", "", value)) if detail.get("type") == "text/html" else value
print(json.dumps({"bozo": bool(d.bozo), "feed": shown(d.feed.get("title_detail", {}), d.feed.get("title", "")),
                  "titles": [shown(e.get("title_detail", {}), e.get("title", "")) for e in d.entries]}))
`;

// newsboat's article list shows the titles its cache holds (no HTML decoding of titles).
const NEWSBOAT_TITLES = `
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(json.dumps({"feed": db.execute("select title from rss_feed").fetchone()[0],
                  "titles": [row[0] for row in db.execute("select title from rss_item order by pubDate desc")]}))
`;

interface ReaderTitles {
  feed: string;
  titles: string[];
}

async function feedparserTitles(file: string, home: string): Promise<ReaderTitles & { bozo: boolean }> {
  const result = await run(SYSTEM_PYTHON, ['-c', FEEDPARSER_TITLES, file], { env: isolatedEnv(home), timeoutMs: 60_000 });
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as ReaderTitles & { bozo: boolean };
}

async function newsboatTitles(file: string, home: string): Promise<ReaderTitles> {
  const dir = mkdtempSync(join(home, 'newsboat-'));
  writeFileSync(join(dir, 'urls'), `file://${file}\n`);
  const common = ['-u', join(dir, 'urls'), '-c', join(dir, 'cache.db'), '-C', '/dev/null'];
  const reload = await run(newsboat!, [...common, '-x', 'reload'], { env: isolatedEnv(dir), timeoutMs: 60_000 });
  expect(reload.code, reload.stderr).toBe(0);
  const read = await run(SYSTEM_PYTHON, ['-c', NEWSBOAT_TITLES, join(dir, 'cache.db')], { env: isolatedEnv(dir), timeoutMs: 60_000 });
  expect(read.code, read.stderr).toBe(0);
  return JSON.parse(read.stdout) as ReaderTitles;
}

// Plain-text titles as upstream feeds give them: the first two read the same as text and as HTML.
const PLAIN = ['AT&T', 'x < y && y > z'];
const MARKUP_AS_TEXT = ['<img src=x onerror=alert(1)>', 'Tom &amp; Jerry', 'Option<T> in Rust', '<!-- not a comment -->'];
const TITLES = [...PLAIN, ...MARKUP_AS_TEXT];

describe('RSS titles read as the text they are', () => {
  let dir: string;
  let file: string;
  let body: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-rss-titles-'));
    const entries: CachedEntry[] = TITLES.map((title, index) => ({
      id: `https://example.org/${index}`,
      sourceId: 'src',
      title,
      link: `https://example.org/${index}`,
      // Newest first, in the order of TITLES.
      published: new Date(Date.UTC(2024, 2, 10 - index)).toISOString(),
      summary: '<p>Body</p>',
      authors: [],
      categories: [],
      enclosures: [],
      firstSeenAt: '2024-03-10T00:00:00Z',
    }));
    body = renderFeed('rss', { ...fixtureInput('rss', entries), title: 'AT&T x < y' }).body;
    file = join(dir, 'titles.rss');
    writeFileSync(file, body);
  });

  afterAll(() => {
    if (dir && !process.env.KEEP_INTEROP) rmSync(dir, { recursive: true, force: true });
  });

  it('escapes no more than could read as markup, and everything that could', () => {
    expect(body).toContain('<title>AT&amp;T x &lt; y</title>');
    expect(body).toContain('<title><![CDATA[AT&T]]></title>');
    expect(body).toContain('<title><![CDATA[x < y && y > z]]></title>');
    expect(body).toContain('<title><![CDATA[&lt;img src=x onerror=alert(1)>]]></title>');
    expect(body).toContain('<title><![CDATA[Tom &amp;amp; Jerry]]></title>');
    expect(body).toContain('<title><![CDATA[&lt;!-- not a comment -->]]></title>');
  });

  it.skipIf(!hasFeedparser)('Universal Feed Parser shows every title as it is (needs python3-feedparser)', async () => {
    const read = await feedparserTitles(file, dir);
    expect(read.bozo).toBe(false);
    expect(read.feed).toBe('AT&T x < y');
    expect(read.titles).toEqual(TITLES);
  });

  it.skipIf(!newsboat)('newsboat shows the plain titles as they are, no reference in them (needs newsboat)', async () => {
    const read = await newsboatTitles(file, dir);
    expect(read.feed).toBe('AT&T x < y');
    expect(read.titles.slice(0, PLAIN.length)).toEqual(PLAIN);
  });

  it.skipIf(!hasValidator)(`the W3C feed validator finds nothing to warn of (needs a clone at ${FEED_VALIDATOR})`, async () => {
    const result = await run(SYSTEM_PYTHON, ['demo.py', file, 'A'], {
      env: isolatedEnv(dir),
      cwd: join(FEED_VALIDATOR, 'src'),
      timeoutMs: 120_000,
    });
    expect(result.stdout).toContain('No errors or warnings');
  });
});
