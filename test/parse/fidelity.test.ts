// Issue 15: constructs real-world feeds use that used to be lost on the way through. One row per
// construct, each a fixture in test/fixtures/fidelity/, read by parse/ and then merged and rendered
// as a feed would be; each row names what used to go missing.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { CachedEntry, ParsedFeed } from '../../src/model.js';
import { parseFeed } from '../../src/parse/index.js';
import { mergeEntries } from '../../src/pipeline/merge.js';
import { renderFeed, type RenderFormat } from '../../src/render/render-feed.js';

const FIXTURES = new URL('../fixtures/fidelity/', import.meta.url);
const BASE_URL = 'https://private.example/feed?token=S3cretFidelityToken';

function parse(name: string): ParsedFeed {
  return parseFeed(readFileSync(new URL(name, FIXTURES)), { baseUrl: BASE_URL });
}

/** The fixture as one source's feed: cached, merged and rendered. */
function render(name: string, format: RenderFormat, channel: { image?: string; explicit?: boolean } = {}): string {
  const parsed = parse(name);
  const cached: CachedEntry[] = parsed.entries.map((entry) => ({ ...entry, sourceId: 'src', firstSeenAt: '2024-06-01T00:00:00Z' }));
  const entries = mergeEntries({ sources: [{ sourceId: 'src', entries: cached }], limit: 100 });
  const urls = { atom: 'https://proxy.example/f.atom', rss: 'https://proxy.example/f.rss', json: 'https://proxy.example/f.json' };
  return renderFeed(format, {
    id: 'urn:feedproxy:feed:test',
    title: parsed.title ?? 'Feed',
    selfUrl: urls[format],
    alternateUrls: urls,
    updated: new Date('2024-06-01T00:00:00Z'),
    generator: 'feedproxy test',
    ...channel,
    entries,
  }).body;
}

interface Row {
  construct: string;
  fixture: string;
  check: (feed: ParsedFeed) => void;
}

const ROWS: Row[] = [
  {
    construct: "YouTube's only text, media:group/media:description, is the entry's summary",
    fixture: 'youtube-media-description.atom',
    check: (feed) => {
      expect(feed.entries.map((entry) => entry.summary)).toEqual([
        // A line break in plain text is one in HTML (a bare newline there reads as a space).
        'In this video we build a birdhouse from one plank.<br />Tools: saw, drill &amp; glue.',
        'Two coats of outdoor paint.',
      ]);
    },
  },
  {
    construct: "JSON Feed's content_text keeps its line breaks, one `<br>` a line and two a blank line",
    fixture: 'json-content-text-lines.json',
    check: (feed) => {
      expect(feed.entries[0]?.content).toBe('Line A<br />Line B<br />Line C<br /><br />A second paragraph &amp; &lt;no markup&gt;');
    },
  },
  {
    construct: 'a podcast item with only itunes:summary keeps it as its summary',
    fixture: 'podcast-itunes.rss',
    check: (feed) => {
      expect(feed.entries[0]?.summary).toBe('Season three starts next week. Here is what is coming.');
      // description wins when both are there
      expect(feed.entries[1]?.summary).toBe('We answer your questions about <b>everything</b>.');
    },
  },
  {
    construct: 'an RSS item with only dc:description keeps it (not its title) as its summary',
    fixture: 'dc-description.rss',
    check: (feed) => {
      expect(feed.entries.map((entry) => entry.summary)).toEqual([
        'Saturday at ten, in the hall. Bring a tin.',
        'Practice is on Thursday this week.',
      ]);
    },
  },
  {
    construct: 'Atom type="text" titles (entry and feed) are literal text, not HTML to strip',
    fixture: 'atom-text-titles.atom',
    check: (feed) => {
      expect(feed.title).toBe('Notes on <html> & friends');
      expect(feed.entries.map((entry) => entry.title)).toEqual([
        'History of the <blink> tag',
        'Use <marquee> & suffer',
        'An emphatic title',
      ]);
    },
  },
  {
    construct: ".NET SyndicationFeed's a10:author inside RSS is read",
    fixture: 'dotnet-a10-author.rss',
    check: (feed) => {
      expect(feed.entries.map((entry) => entry.authors)).toEqual([
        [{ name: 'Ada Lovelace', email: 'ada@contoso.example', url: 'https://contoso.example/people/ada' }],
        [{ name: 'Grace Hopper' }],
      ]);
    },
  },
  {
    construct: 'an RSS author with HTML around the name is named by its text (it was "p Ada Lovelace", or lost when naked)',
    fixture: 'rss-author-markup.rss',
    check: (feed) => {
      expect(feed.entries.map((entry) => entry.authors)).toEqual([
        [{ name: 'Ada Lovelace' }],
        [{ name: 'Grace Hopper' }],
        [{ name: 'Alan Turing' }],
        [{ name: 'Edsger Dijkstra' }],
      ]);
    },
  },
  {
    construct:
      'an RSS title is read as HTML only when it looks like HTML (as Universal Feed Parser decides): angle brackets that are text stay',
    fixture: 'rss-title-angle-brackets.rss',
    check: (feed) => {
      expect(feed.title).toBe('Generics & Co');
      expect(feed.entries.map((entry) => entry.title)).toEqual([
        'Using Option<T> in Rust',
        'Why Vec<u8> and not String',
        'Map<String, List<Integer>> in Java',
        'if (a <b) { }',
        'The <details> element',
        'x < y && y > z',
        'AT&T',
        // HTML: a closing tag, a character reference.
        'Emphasis in a title',
        'Tom & Jerry <3',
      ]);
    },
  },
  {
    construct: 'an Atom author with only an e-mail address is kept',
    fixture: 'atom-email-authors.atom',
    check: (feed) => {
      expect(feed.entries[0]?.authors).toEqual([{ email: 'alice@lists.example' }]);
    },
  },
  {
    construct: 'RSS dcterms:issued dates the item',
    fixture: 'dcterms-issued.rss',
    check: (feed) => {
      expect(feed.entries.map((entry) => entry.published)).toEqual(['2024-01-15T08:00:00.000Z', '2023-12-01T08:00:00.000Z']);
    },
  },
  {
    construct: 'Atom 0.3 mode="base64" content is decoded',
    fixture: 'atom03-base64.atom',
    check: (feed) => {
      expect(feed.entries[0]?.content).toBe('<p>Hello <b>base64</b> world</p>');
    },
  },
  {
    construct: 'RFC 4287 content of a non-text type (base64) is decoded',
    fixture: 'atom10-base64-type.atom',
    check: (feed) => {
      expect(feed.entries[0]?.content).toBe('Plain text carried as base64.');
    },
  },
  {
    construct: 'RSS items with no guid sharing one link stay three entries',
    fixture: 'guidless-shared-link.rss',
    check: (feed) => {
      expect(feed.entries).toHaveLength(3);
      expect(new Set(feed.entries.map((entry) => entry.id)).size).toBe(3);
      expect(feed.entries.every((entry) => entry.link === 'https://town.example/announcements')).toBe(true);
    },
  },
  {
    construct: 'an unclosed <itunes:category> does not swallow the items: all three are recovered',
    fixture: 'podcast-unclosed-category.rss',
    check: (feed) => {
      expect(feed.entries.map((entry) => entry.title)).toEqual(['Pilot', 'Second', 'Third']);
      expect(feed.entries.map((entry) => entry.enclosures[0]?.url)).toEqual([
        'https://brokenpod.example/1.mp3',
        'https://brokenpod.example/2.mp3',
        'https://brokenpod.example/3.mp3',
      ]);
    },
  },
  {
    construct: '<rss> with no <channel> is read',
    fixture: 'rss-no-channel.rss',
    check: (feed) => {
      expect(feed.entries.map((entry) => entry.link)).toEqual(['https://channelless.example/1', 'https://channelless.example/2']);
    },
  },
  {
    construct: 'a channel with no title whose items hold only unknown elements is read, one entry per item',
    fixture: 'untitled-unknown-items.rss',
    check: (feed) => {
      expect(feed.entries).toHaveLength(2);
      expect(new Set(feed.entries.map((entry) => entry.id)).size).toBe(2);
    },
  },
  {
    construct: 'an Atom feed wrapped in XHTML <html><body> is read',
    fixture: 'atom-in-xhtml.html',
    check: (feed) => {
      expect(feed.format).toBe('atom');
      expect(feed.title).toBe('Wrapped feed');
      expect(feed.entries.map((entry) => entry.link)).toEqual(['https://wrapped.example/1']);
    },
  },
  {
    construct: "a podcast's iTunes tags and artwork are read",
    fixture: 'podcast-itunes.rss',
    check: (feed) => {
      expect(feed.image).toBe('https://podcast.example/art/show.jpg');
      expect(feed.explicit).toBe(true);
      expect(feed.entries[0]?.image).toBe('https://podcast.example/art/ep12.jpg');
      expect(feed.entries.map((entry) => entry.podcast)).toEqual([
        { duration: 250, explicit: false, episode: 12, season: 3, episodeType: 'trailer' },
        { duration: 3725, explicit: true, episode: 11, season: 2, episodeType: 'full' },
      ]);
    },
  },
  {
    construct: "an RSS item's full text in <body> (XHTML, prefixed or not) or <fullitem> (escaped HTML) is its content",
    fixture: 'rss-item-body.rss',
    check: (feed) => {
      expect(feed.entries.map((entry) => entry.content)).toEqual([
        '<p>First <b>full</b> text &amp; more.</p>',
        '<p>Second full text, a &lt; b.</p>',
        '<p>Third <i>full</i> text ]]&gt; too</p>',
        undefined,
      ]);
      expect(feed.entries[1]?.summary).toBe('Short description');
    },
  },
  {
    construct: 'a document cut off inside its last close tag (`</rss` with no `>`) is read',
    fixture: 'rss-cut-last-tag.rss',
    check: (feed) => {
      expect(feed.title).toBe('Cut short');
      expect(feed.entries.map((entry) => [entry.title, entry.link])).toEqual([['The only item', 'http://cut.example/get?a=1&b=2']]);
    },
  },
  {
    construct: 'dc:author names the author, and "Name (e-mail)" in it or dc:creator is split',
    fixture: 'dc-author.rss',
    check: (feed) => {
      expect(feed.entries.map((entry) => entry.authors)).toEqual([
        [{ name: 'Example Editor', email: 'editor@example.org' }],
        [{ name: 'Example Writer', email: 'writer@example.org' }],
        [{ name: 'Plain Name' }],
      ]);
    },
  },
  {
    construct: 'JSON Feed titles are plain text: <i> in them is text, character references are decoded',
    fixture: 'json-title-markup.json',
    check: (feed) => {
      expect(feed.title).toBe('Tags & <b>markup</b>');
      expect(feed.entries.map((entry) => entry.title)).toEqual(['Die Rückkehr von <i> und <b>', 'Fish & chips ’n’ peas']);
    },
  },
  {
    construct: 'Atom text constructs with naked child markup (no type, or type="text") are read as HTML; escaped markup stays text',
    fixture: 'atom-naked-markup.atom',
    check: (feed) => {
      expect(feed.entries.map((entry) => [entry.title, entry.summary])).toEqual([
        ['Release 3.0 is out', 'The <em>fastest</em> release yet.'],
        ['Escaped: <b> stays text', 'Written as text: &lt;em&gt;'],
        // Beside naked markup, escaped markup and CDATA are still text: no element, no link.
        [
          'Use bold, not <blink>',
          'Type <code>&lt;img src=x&gt;</code>, then &lt;a href="https://evil.example/"&gt;this&lt;/a&gt; and &lt;i&gt;that&lt;/i&gt;',
        ],
      ]);
    },
  },
  {
    construct: 'an Atom title of a non-text media type is base64, decoded like content',
    fixture: 'atom10-base64-title.atom',
    check: (feed) => {
      expect(feed.entries[0]?.title).toBe('Example <b>Atom</b>');
    },
  },
  {
    construct: 'MathML keeps its text (the formula), not its elements nor its TeX annotation',
    fixture: 'mathml.atom',
    check: (feed) => {
      expect(feed.entries.map((entry) => entry.content)).toEqual([
        '<p>When you request n bytes, you get a+b of them.</p>',
        '<p>The sum x2 grows.</p>',
      ]);
    },
  },
  {
    construct: 'RSS 2.0 written in its old prefixed namespace (<r:rss xmlns:r="http://backend.userland.com/rss2">) is read',
    fixture: 'rss2-prefixed.rss',
    check: (feed) => {
      expect(feed.title).toBe('RSS 2.0 in its old namespace');
      expect(feed.entries).toHaveLength(1);
      expect(feed.entries[0]).toMatchObject({
        title: 'A prefixed item',
        link: 'https://prefixed.example/1',
        summary: 'Its description is read.',
        published: '2024-06-03T10:00:00.000Z',
        authors: [{ name: 'Simon' }],
      });
    },
  },
  {
    construct: 'malformed XML around items (an element closed by the wrong name) is read with its tags balanced',
    fixture: 'rss-mismatched-close.rss',
    check: (feed) => {
      expect(feed.entries.map((entry) => [entry.title, entry.link])).toEqual([
        ['First', 'https://typo.example/1'],
        ['Second', 'https://typo.example/2'],
      ]);
      expect(feed.entries[1]?.summary).toBe('Whole.');
    },
  },
  {
    construct: 'an Atom title or content of an unknown non-binary type that is no base64 is its text as written',
    fixture: 'atom-custom-type.atom',
    check: (feed) => {
      expect(feed.entries.map((entry) => [entry.title, entry.content])).toEqual([['test', '{"a":1}']]);
    },
  },
  {
    construct: "Atom's <content> inside an RSS item is its content",
    fixture: 'rss-atom-content.rss',
    check: (feed) => {
      expect(feed.entries[0]?.content).toBe('<p>Body</p>');
    },
  },
  {
    construct: 'RSS items with no title, date, description, link or guid stay apart (told apart by all they hold)',
    fixture: 'rss-items-without-title.rss',
    check: (feed) => {
      expect(feed.entries).toHaveLength(2);
      expect(new Set(feed.entries.map((entry) => entry.id)).size).toBe(2);
      expect(feed.entries.map((entry) => entry.summary)).toEqual(['Item Itunes Summary', undefined]);
    },
  },
];

describe('constructs real-world feeds use (issue 15)', () => {
  it.each(ROWS)('$construct ($fixture)', ({ fixture, check }) => {
    check(parse(fixture));
  });

  it('refuses a document cut off mid-item (a failed transfer): the source turns stale, its last good entries stay published', () => {
    const body = readFileSync(new URL('../fixtures/feeds/rss-cut-off.rss', import.meta.url));
    // It is a real cut: the first item is whole, the second stops inside a CDATA section.
    expect(body.toString('utf8')).toMatch(/<title>First whole item<\/title>[\s\S]*<!\[CDATA\[<p>Half of i$/);
    expect(() => parseFeed(body, { baseUrl: BASE_URL })).toThrow(/malformed XML/);
  });

  it("repairs a whole document with a misclosed tag even when a comment follows its root (a cache plugin's trailer)", () => {
    const whole =
      '<rss version="2.0"><channel><title>T</title><item><title>First</titel><link>https://e.example/1</link></item></channel></rss>';
    const trailer = '\n<!-- generated in 0.1s -->\n<?cache hit?>\n';
    const withoutTrailer = parseFeed(whole, { baseUrl: BASE_URL });
    expect(withoutTrailer.entries).toHaveLength(1);
    expect(parseFeed(whole + trailer, { baseUrl: BASE_URL }).entries).toEqual(withoutTrailer.entries);
  });

  it('never reports a document with items as a feed with none: it recovers them or refuses with a reason', () => {
    // Unclosed elements everywhere, items inside them: what the parser cannot place is still counted.
    const broken = '<rss version="2.0"><channel><title>x</title><foo><item><title>a</title><bar></item></channel></rss>';
    let parsed: ParsedFeed | undefined;
    try {
      parsed = parseFeed(broken, { baseUrl: BASE_URL });
    } catch (error) {
      expect((error as { code?: string }).code).toBe('FP_NOT_A_FEED');
      expect((error as Error).message).toMatch(/item/);
    }
    if (parsed) expect(parsed.entries.length).toBeGreaterThan(0);
  });
});

describe('what the published feeds carry (issue 15)', () => {
  it('Atom names an author known only by e-mail', () => {
    const atom = render('atom-email-authors.atom', 'atom');
    expect(atom).toMatch(/<author>\s*<name>alice@lists\.example<\/name>\s*<email>alice@lists\.example<\/email>/);
  });

  it('RSS names authors known only by e-mail, and .NET a10 authors by name', () => {
    expect(render('atom-email-authors.atom', 'rss')).toContain('<author>alice@lists.example</author>');
    expect(render('dotnet-a10-author.rss', 'rss')).toContain('<dc:creator>Ada Lovelace</dc:creator>');
  });

  it('an Atom entry with neither content nor link carries its title as content, never its id', () => {
    const atom = render('no-content-no-link.atom', 'atom');
    expect(atom).toContain('All systems normal]]></content>');
    // The second entry has no id, title, text or link: its id is our hash, which is no content.
    const contents = [...atom.matchAll(/<content[^>]*>([\s\S]*?)<\/content>/g)].map((match) => match[1]);
    expect(contents).toHaveLength(2);
    for (const content of contents) expect(content).not.toMatch(/tag:status|urn:feedproxy|urn:uuid/);
  });

  it('Atom type="text" titles reach every format as the text they were', () => {
    expect(render('atom-text-titles.atom', 'atom')).toContain('History of the &lt;blink&gt; tag');
    expect(JSON.parse(render('atom-text-titles.atom', 'json')).items[0].title).toBe('History of the <blink> tag');
  });

  it('a podcast stays a podcast: enclosure, itunes:duration, image, explicit, episode, season and episodeType', () => {
    const rss = render('podcast-itunes.rss', 'rss', { image: 'https://podcast.example/art/show.jpg', explicit: true });
    expect(rss).toMatch(/<rss [^>]*xmlns:itunes="http:\/\/www\.itunes\.com\/dtds\/podcast-1\.0\.dtd"/);
    expect(rss).toMatch(/<channel>[\s\S]*<itunes:image href="https:\/\/podcast\.example\/art\/show\.jpg"\/>[\s\S]*<\/channel>/);
    expect(rss).toMatch(/<itunes:explicit>true<\/itunes:explicit>\s*<\/channel>/);
    const episode12 = /<item>(?:(?!<\/item>)[\s\S])*Episode 12(?:(?!<\/item>)[\s\S])*<\/item>/.exec(rss)?.[0] ?? '';
    const enclosure = /<enclosure [^>]*>/.exec(episode12)?.[0] ?? '';
    expect(enclosure).toContain('url="https://cdn.podcast.example/ep12.mp3"');
    expect(enclosure).toContain('length="1234567"');
    expect(enclosure).toContain('type="audio/mpeg"');
    expect(episode12).toContain('<itunes:duration>0:04:10</itunes:duration>');
    expect(episode12).toContain('<itunes:image href="https://podcast.example/art/ep12.jpg"/>');
    expect(episode12).toContain('<itunes:explicit>false</itunes:explicit>');
    expect(episode12).toContain('<itunes:episode>12</itunes:episode>');
    expect(episode12).toContain('<itunes:season>3</itunes:season>');
    expect(episode12).toContain('<itunes:episodeType>trailer</itunes:episodeType>');
    const episode11 = /<item>(?:(?!<\/item>)[\s\S])*Episode 11(?:(?!<\/item>)[\s\S])*<\/item>/.exec(rss)?.[0] ?? '';
    expect(episode11).toContain('<itunes:duration>1:02:05</itunes:duration>');
  });

  it('a feed without iTunes tags gets none', () => {
    expect(render('dc-description.rss', 'rss')).not.toContain('itunes');
  });

  it('guid-less items sharing a link are three entries in the published feed', () => {
    const json = JSON.parse(render('guidless-shared-link.rss', 'json')) as { items: Array<{ title: string }> };
    expect(json.items.map((item) => item.title)).toEqual(['Road closed on Monday', 'Library hours change', 'Recycling pickup moved']);
  });
});
