// The fixed input behind the golden files: every case the renderer has to get right at once.
import type { CachedEntry } from '../../src/model.js';
import type { RenderEntry, RenderFormat, RenderInput } from '../../src/render/render-feed.js';

const base = { authors: [], categories: [], enclosures: [] } satisfies Partial<CachedEntry>;

export const ENTRIES: RenderEntry[] = [
  {
    ...base,
    id: 'tag:example.org,2024:post-1',
    sourceId: 'src-a',
    title: 'Ünïcode — 日本語 🎉 & <not a tag>',
    link: 'https://example.org/posts/1?a=1&b=2',
    published: '2024-03-01T10:00:00Z',
    updated: '2024-03-02T08:30:00+01:00',
    summary: '<p>Fish &amp; chips</p>',
    content: '<p>Code: <code>a[b[0]]&gt;1</code></p><pre>x ]]> y ]]> z &amp; done</pre>',
    authors: [{ name: 'Ada Lovelace', email: 'ada@example.org', url: 'https://example.org/ada' }, { name: 'Tom & Jerry' }],
    categories: ['news', 'C&C', 'Literal &amp; entity'],
    firstSeenAt: '2024-03-01T10:05:00Z',
    // A source with a home page whose query needs escaping in every format.
    source: { title: 'Blog & <News>', url: 'https://example.org/?lang=en&view=all' },
  },
  {
    ...base,
    id: '12345',
    sourceId: 'src-a',
    title: 'Not a URI id ]]> twice ]]> here',
    link: 'https://example.org/posts/2',
    published: '2024-02-28T09:00:00Z',
    summary: 'Plain summary with a\u0000control\u0008 character',
    firstSeenAt: '2024-02-28T09:05:00Z',
  },
  {
    ...base,
    id: 'https://podcast.example.net/episodes/7',
    sourceId: 'src-b',
    title: 'Episode 7',
    link: 'https://podcast.example.net/episodes/7',
    published: 'Tue, 27 Feb 2024 06:00:00 GMT',
    content: '<p>Show notes</p>',
    enclosures: [
      { url: 'https://cdn.example.net/ep7.mp3?sig=a&exp=1', type: 'audio/mpeg', length: 12345678 },
      { url: 'https://cdn.example.net/ep7-transcript', length: -1 },
    ],
    categories: ['podcast'],
    firstSeenAt: '2024-02-27T06:10:00Z',
    // No home page: RSS can't name it (<source> requires a url), Atom and JSON Feed can.
    source: { title: 'Podcast ]]> "7"' },
  },
  {
    ...base,
    id: '12345',
    sourceId: 'src-b',
    title: 'Same upstream id in another source',
    link: 'https://other.example.com/12345',
    updated: '2024-02-26T12:00:00Z',
    content: '<p>Other</p>',
    authors: [{ email: 'only-mail@example.com' }],
    firstSeenAt: '2024-02-26T12:00:00Z',
  },
  {
    ...base,
    id: 'urn:x-invalid id with spaces',
    sourceId: 'src-b',
    title: 'Only first seen',
    summary: '<p>No dates, no link.</p>',
    firstSeenAt: '2024-02-25T00:00:00Z',
  },
];

export const FEED_URLS = {
  atom: 'http://127.0.0.1:8080/f/Tk3n.atom',
  rss: 'http://127.0.0.1:8080/f/Tk3n.rss',
  json: 'http://127.0.0.1:8080/f/Tk3n.json',
};

export const STYLESHEET_URL = 'http://127.0.0.1:8080/feed.xsl?v=1&x="y"';

export function fixtureInput(format: RenderFormat, entries: RenderEntry[] = ENTRIES): RenderInput {
  return {
    id: 'urn:feedproxy:feed:f1',
    title: 'Merged & filtered',
    description: 'Two sources, merged by feedproxy',
    selfUrl: FEED_URLS[format],
    alternateUrls: FEED_URLS,
    homeUrl: 'https://example.org/',
    updated: new Date('2024-03-02T07:30:00Z'),
    generator: 'feedproxy 0.1.0',
    hubUrl: 'https://hub.example.org/websub?a=1&b=2',
    stylesheetUrl: STYLESHEET_URL,
    entries,
  };
}
