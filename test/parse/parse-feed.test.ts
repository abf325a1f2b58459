import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCodedError } from '../../src/errors.js';
import type { FeedFormat, ParsedFeed } from '../../src/model.js';
import { parseFeed } from '../../src/parse/index.js';

const FIXTURES = new URL('../fixtures/feeds/', import.meta.url);
const readFixture = (name: string): Buffer => readFileSync(new URL(name, FIXTURES));

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const NETFLIX_SECRET = 'T1SECRETu5cVd3sK9wPz7Qn2LmJfXy0Ha8Rb--';
const NETFLIX_URL = `http://api.netflix.com/users/T1mPq8sVbWJc0zYf3kR7uLxA--/queues/disc?feed_token=${NETFLIX_SECRET}&oauth_consumer_key=k5mdsq7ye2p9fhubfe4cz3tu&output=atom`;

/** Expects parseFeed to throw FP_NOT_A_FEED and returns the message. */
function expectNotAFeed(body: Buffer | string, baseUrl = 'https://feeds.example.test/feed'): string {
  try {
    parseFeed(body, { baseUrl });
  } catch (error) {
    expect(isCodedError(error)).toBe(true);
    expect((error as { code: string }).code).toBe('FP_NOT_A_FEED');
    return (error as Error).message;
  }
  throw new Error('expected parseFeed to throw FP_NOT_A_FEED');
}

function allUrls(feed: ParsedFeed): string[] {
  return [
    ...(feed.link ? [feed.link] : []),
    ...feed.entries.flatMap((entry) => [
      ...(entry.link ? [entry.link] : []),
      ...(entry.image ? [entry.image] : []),
      ...entry.enclosures.map((enclosure) => enclosure.url),
      ...entry.authors.flatMap((author) => (author.url ? [author.url] : [])),
    ]),
  ];
}

describe('parseFeed over every fixture feed', () => {
  const cases: Array<{ file: string; baseUrl: string; format: FeedFormat; entries: number; title: string }> = [
    { file: 'netflix-queue.atom', baseUrl: NETFLIX_URL, format: 'atom', entries: 4, title: "Netflix: Jane Doe's Disc Queue" },
    {
      file: 'podcast.rss',
      baseUrl: 'https://feeds.nightshift.example.org/podcast.xml',
      format: 'rss',
      entries: 3,
      title: 'Night Shift Radio',
    },
    {
      file: 'rdf.rdf',
      baseUrl: 'https://rss.slashdot.example.org/Slashdot/slashdotMain',
      format: 'rdf',
      entries: 3,
      title: 'Slashdot-ish: News for nerds',
    },
    {
      file: 'jsonfeed-1.1.json',
      baseUrl: 'https://notes.example.net/feed.json',
      format: 'json',
      entries: 3,
      title: 'Ink & Switch-ish Notes',
    },
    { file: 'jsonfeed-1.0.json', baseUrl: 'https://df.example.com/feeds/json', format: 'json', entries: 2, title: 'Daring Fireball-ish' },
    {
      file: 'relative-links.atom',
      baseUrl: 'https://feeds.example.test/journal.atom',
      format: 'atom',
      entries: 3,
      title: 'Field Notes & Sketches',
    },
    { file: 'hostile-html.rss', baseUrl: 'https://hostile.example.org/feed.xml', format: 'rss', entries: 2, title: 'Totally Normal Blog' },
    { file: 'atom-0.3.xml', baseUrl: 'http://diveintomark.example.org/atom.xml', format: 'atom', entries: 2, title: 'dive into mark' },
    { file: 'rss-0.91.xml', baseUrl: 'http://writetheweb.example.com/rss.xml', format: 'rss', entries: 3, title: 'WriteTheWeb' },
    {
      file: 'latin1.rss',
      baseUrl: 'http://www.cafe-society.example.es/rss.xml',
      format: 'rss',
      entries: 2,
      title: 'Café Society - Noticias',
    },
    {
      file: 'no-dates.rss',
      baseUrl: 'https://status.example.io/feed.rss',
      format: 'rss',
      entries: 3,
      title: 'Status board (no dates, no guids)',
    },
  ];

  it.each(cases)('$file: $format, $entries entries, stable ids, absolute links, ISO dates', ({ file, baseUrl, format, entries, title }) => {
    const first = parseFeed(readFixture(file), { baseUrl });
    const second = parseFeed(readFixture(file), { baseUrl });

    expect(first.format).toBe(format);
    expect(first.title).toBe(title);
    expect(first.entries).toHaveLength(entries);
    expect(first.entries.map((entry) => entry.id)).toEqual(second.entries.map((entry) => entry.id));
    expect(new Set(first.entries.map((entry) => entry.id)).size).toBe(entries);
    for (const url of allUrls(first)) expect(url).toMatch(/^https?:\/\/[^/]/);
    for (const entry of first.entries) {
      expect(entry.id).not.toBe('');
      if (entry.published !== undefined) expect(entry.published).toMatch(ISO_8601);
      if (entry.updated !== undefined) expect(entry.updated).toMatch(ISO_8601);
      expect(entry.title ?? '').not.toMatch(/[<>]/);
    }
    // Plain JSON: what the cache stores and the renderer reads.
    expect(JSON.parse(JSON.stringify(first))).toEqual(first);
  });
});

describe('normalisation details', () => {
  it('takes the source URL secrets out of links, content and the feed link (Netflix feed_token)', () => {
    const feed = parseFeed(readFixture('netflix-queue.atom'), { baseUrl: NETFLIX_URL });
    const serialised = JSON.stringify(feed);
    expect(serialised).not.toContain(NETFLIX_SECRET);
    expect(serialised).not.toContain('feed_token');
    // The alternate link carried the token; the page it names is kept.
    expect(feed.link).toBe('http://www.netflix.com/Queue');
    expect(feed.entries[1]!.summary).toContain('href="http://www.netflix.com/Movie/No_Country_for_Old_Men/70074439"');
    expect(feed.entries[0]).toMatchObject({
      title: '1- Pride & Prejudice',
      link: 'http://www.netflix.com/Movie/Pride_and_Prejudice/70032594?trkid=134852',
      published: '2008-10-28T02:41:09.000Z',
      updated: '2008-11-04T19:12:33.000Z',
      categories: ['Romance', 'Drama'],
      // RFC 4287 §4.2.1: the feed's author stands for entries without one.
      authors: [{ name: 'Netflix', url: 'http://www.netflix.com/' }],
    });
    expect(feed.entries[0]!.summary).toContain('<img src="http://cdn-4.nflximg.com/us/boxshots/small/70032594.jpg"');
  });

  it('resolves relative links against entry and feed xml:base, and drops non-web links', () => {
    const feed = parseFeed(readFixture('relative-links.atom'), { baseUrl: 'https://feeds.example.test/journal.atom' });
    const [harbour, ink, notWeb] = feed.entries;
    expect(feed.link).toBe('https://blog.example.com/journal/');
    expect(harbour!.link).toBe('https://blog.example.com/journal/2009/07/harbour.html');
    expect(harbour!.enclosures).toEqual([
      { url: 'https://blog.example.com/journal/media/harbour-full.jpg', type: 'image/jpeg', length: 284113 },
    ]);
    expect(harbour!.content).toContain('href="https://blog.example.com/journal/2009/07/harbour-map.html"');
    expect(harbour!.content).toContain('src="https://blog.example.com/journal/2009/07/img/harbour-thumb.jpg"');
    expect(harbour!.content).toContain('href="https://blog.example.com/journal/2009/06/docks.html"');
    expect(harbour!.content).toContain('href="https://cdn.example.com/pdf/harbour.pdf"');
    expect(harbour!.authors).toEqual([{ name: 'Marta Kowalska', url: 'https://blog.example.com/about/' }]);
    expect(ink!.title).toBe('Ink tests');
    expect(ink!.link).toBe('https://blog.example.com/journal/2009/06/ink-tests.html');
    expect(ink!.summary).toContain('href="https://blog.example.com/inks/"');
    expect(ink!.summary).toContain('src="https://blog.example.com/journal/paper.png"');
    expect(notWeb!.link).toBeUndefined();
    // type="text" is text: its markup-looking characters are escaped, not interpreted.
    expect(notWeb!.summary).toBe('Plain &lt;text&gt; summary &amp; more');
  });

  it('reads podcast enclosures, iTunes images, authors, categories and <ttl>', () => {
    const feed = parseFeed(readFixture('podcast.rss'), { baseUrl: 'https://feeds.nightshift.example.org/podcast.xml' });
    expect(feed).toMatchObject({ link: 'https://nightshift.example.org/', ttlMinutes: 60 });
    expect(feed.entries[0]).toMatchObject({
      id: 'nightshift-ep-042',
      published: '2024-03-12T06:00:00.000Z',
      authors: [{ name: 'Rosa Alvarez', email: 'podcast@nightshift.example.org' }],
      categories: ['Maritime', 'Interviews'],
      enclosures: [{ url: 'https://cdn.nightshift.example.org/audio/ep042.mp3', type: 'audio/mpeg', length: 48211932 }],
      image: 'https://nightshift.example.org/art/ep042.jpg',
    });
    expect(feed.entries[0]!.content).toContain('<strong>219 steps</strong>');
    // RFC 822 zone names: 18:30 EST is 23:30 UTC.
    expect(feed.entries[2]!.published).toBe('2024-02-05T23:30:00.000Z');
    expect(feed.entries[2]!.link).toBeUndefined();
  });

  it('reads RDF items with Dublin Core and turns sy:updatePeriod/updateFrequency into minutes', () => {
    const feed = parseFeed(readFixture('rdf.rdf'), { baseUrl: 'https://rss.slashdot.example.org/Slashdot/slashdotMain' });
    expect(feed.ttlMinutes).toBe(30);
    expect(feed.entries[0]).toMatchObject({
      id: 'https://tech.slashdot.example.org/story/24/03/12/1358201/new-kernel-release',
      published: '2024-03-12T14:00:00.000Z',
      authors: [{ name: 'msmash' }],
      categories: ['linux'],
    });
    expect(feed.entries[0]!.summary).toContain('<i>i486</i>');
  });

  it('reads JSON Feed 1.1 and 1.0 (author → authors, numeric id, content_text, attachments)', () => {
    const v11 = parseFeed(readFixture('jsonfeed-1.1.json'), { baseUrl: 'https://notes.example.net/feed.json' });
    expect(v11.link).toBe('https://notes.example.net/');
    expect(v11.entries[0]).toMatchObject({
      published: '2024-02-20T17:30:00.000Z',
      updated: '2024-02-21T18:00:00.000Z',
      image: 'https://notes.example.net/img/undo-dag.png',
      categories: ['crdt', 'undo'],
      authors: [{ name: 'Priya Raman', url: 'https://notes.example.net/about' }],
    });
    expect(v11.entries[1]).toMatchObject({
      id: '2024-sync-servers',
      authors: [{ name: 'Tom Okafor' }],
      enclosures: [{ url: 'https://notes.example.net/talks/sync-servers.mp3', type: 'audio/mpeg', length: 12873311 }],
    });
    expect(v11.entries[1]!.content).toContain('Short answer: yes, but dumber ones.');
    expect(v11.entries[2]).toMatchObject({ id: '1042', link: 'https://example.com/paper.pdf' });
    expect(v11.entries[2]!.published).toBeUndefined();

    const v10 = parseFeed(readFixture('jsonfeed-1.0.json'), { baseUrl: 'https://df.example.com/feeds/json' });
    expect(v10.entries[0]).toMatchObject({ title: '★ Announcing JSON Feed', authors: [{ name: 'Guest Poster' }] });
    expect(v10.entries[1]!.title).toBeUndefined();
    expect(v10.entries[1]!.authors).toEqual([{ name: 'John Q. Writer', url: 'https://twitter.example/jqw' }]);
  });

  it('maps Atom 0.3 issued/modified/tagline and reads RSS 0.91 with its Netscape DOCTYPE', () => {
    const atom = parseFeed(readFixture('atom-0.3.xml'), { baseUrl: 'http://diveintomark.example.org/atom.xml' });
    expect(atom.description).toBe('A lot of effort went into making this effortless');
    expect(atom.entries[0]).toMatchObject({
      updated: '2003-12-13T18:30:02.000Z',
      link: 'http://diveintomark.example.org/2003/12/13/atom03',
    });
    expect(atom.entries[0]!.content).toBe('<p>The <em>Atom 0.3</em> snapshot is out.</p>');

    const rss = parseFeed(readFixture('rss-0.91.xml'), { baseUrl: 'http://writetheweb.example.com/rss.xml' });
    expect(rss.entries[0]!.summary).toContain('Gnutella é allowing');
  });

  it('reads an RSS author written "Name <e-mail>" or "e-mail (Name)" as both, with or without HTML around a name elsewhere', () => {
    const feed = parseFeed(
      `<rss version="2.0"><channel><title>People</title>
        <item><title>1</title><guid>1</guid><author>Barbara Liskov &lt;barbara@mit.example&gt;</author></item>
        <item><title>2</title><guid>2</guid><author>donald@stanford.example (Donald Knuth)</author></item>
        <item><title>3</title><guid>3</guid><author>&lt;b&gt;Ada&lt;/b&gt; &lt;ada@analytical.example&gt;</author></item>
      </channel></rss>`,
      { baseUrl: 'https://people.example/feed' },
    );
    expect(feed.entries.map((entry) => entry.authors)).toEqual([
      [{ name: 'Barbara Liskov', email: 'barbara@mit.example' }],
      [{ name: 'Donald Knuth', email: 'donald@stanford.example' }],
      // The HTML comes off the name; the address in brackets stays one.
      [{ name: 'Ada', email: 'ada@analytical.example' }],
    ]);
  });

  it('gives entries without guid, link or date a hashed id that survives refreshes', () => {
    const feed = parseFeed(readFixture('no-dates.rss'), { baseUrl: 'https://status.example.io/feed.rss' });
    const [noLink, relativeLink, bare] = feed.entries;
    expect(noLink!.id).toMatch(/^urn:feedproxy:sha256:[0-9a-f]{64}$/);
    expect(noLink!.published).toBeUndefined();
    expect(relativeLink!.link).toBe('https://status.example.io/incidents/dashboard-maintenance');
    expect(relativeLink!.id).toBe(relativeLink!.link);
    // "sometime next week" is not a date: dropped, never guessed.
    expect(relativeLink!.published).toBeUndefined();
    expect(bare!.id).toMatch(/^urn:feedproxy:sha256:/);
    expect(bare!.id).not.toBe(noLink!.id);
  });
});

it('reads a feed that a broken server prefixed with a PHP warning', () => {
  const body =
    '\n<b>Warning</b>:  Undefined variable $x in <b>/var/www/feed.php</b> on line <b>12</b><br />\n<?xml version="1.0"?><rss version="2.0"><channel><title>After junk</title></channel></rss>';
  expect(parseFeed(body, { baseUrl: 'https://feeds.example.test/' }).title).toBe('After junk');
});

describe('character encodings', () => {
  it('decodes ISO-8859-1 bytes named by the XML declaration', () => {
    const bytes = readFixture('latin1.rss');
    expect(bytes.includes(Buffer.from('Caf\u00e9', 'latin1'))).toBe(true);
    const feed = parseFeed(bytes, { baseUrl: 'http://www.cafe-society.example.es/rss.xml' });
    expect(feed.entries[0]!.title).toBe('Año nuevo en Sevilla: ¿dónde tomar café?');
    expect(feed.entries[0]!.authors).toEqual([{ name: 'José Núñez', email: 'redaccion@cafe-society.example.es' }]);
    expect(feed.entries[1]!.title).toBe('Müller y Søren: entrevista');
  });

  it('lets a Content-Type charset decide, with windows-1252 quotes and euro sign', () => {
    const body = Buffer.concat([
      Buffer.from('<rss version="2.0"><channel><title>t</title><item><guid>1</guid><title>'),
      Buffer.from([0x93, 0x41, 0x94, 0x20, 0x80, 0x20, 0x96]),
      Buffer.from('</title></item></channel></rss>'),
    ]);
    const feed = parseFeed(body, { baseUrl: 'https://feeds.example.test/', contentType: 'application/rss+xml; charset=windows-1252' });
    expect(feed.entries[0]!.title).toBe('“A” € –');
  });

  it('prefers valid UTF-8 over a server default charset that contradicts the declaration', () => {
    const body = Buffer.from(
      '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Crème brûlée</title></channel></rss>',
    );
    const feed = parseFeed(body, { baseUrl: 'https://feeds.example.test/', contentType: 'text/xml; charset=ISO-8859-1' });
    expect(feed.title).toBe('Crème brûlée');
  });

  it('decodes UTF-16 with a byte order mark and strips a UTF-8 BOM', () => {
    const utf16 = Buffer.from(
      '\ufeff<?xml version="1.0" encoding="UTF-16"?><rss version="2.0"><channel><title>Grüße</title></channel></rss>',
      'utf16le',
    );
    expect(parseFeed(utf16, { baseUrl: 'https://feeds.example.test/' }).title).toBe('Grüße');
    const utf8Bom = Buffer.from('\ufeff{"version":"https://jsonfeed.org/version/1.1","title":"BOM","items":[]}');
    expect(parseFeed(utf8Bom, { baseUrl: 'https://feeds.example.test/' }).title).toBe('BOM');
  });

  // Legacy feeds that name no encoding (or call themselves UTF-8): their bytes say which
  // (test/fixtures/encodings/, each a text of our own in that encoding, no declaration).
  const LEGACY: Array<[string, string]> = [
    ['euc-jp.rss', '新しい年の最初の週末に、私たちは近所の公園を散歩しました。'],
    ['shift_jis.rss', '今日は朝から雨が降っていたので、家で本を読んで過ごしました。'],
    ['euc-kr.rss', '오늘은 아침부터 날씨가 맑아서 가족과 함께 한강 공원에 다녀왔습니다.'],
    ['gb18030.rss', '今天早上我们全家去公园散步，天气非常好，孩子们在草地上放风筝。'],
    ['big5.rss', '今天早上我們全家去公園散步，天氣非常好，孩子們在草地上放風箏。'],
    ['koi8-r.rss', 'Сегодня утром мы всей семьёй гуляли в парке.'],
  ];
  it.each(LEGACY)('reads undeclared %s by its bytes', (fixture, start) => {
    const bytes = readFileSync(new URL(`../fixtures/encodings/${fixture}`, import.meta.url));
    expect(bytes.toString('latin1')).not.toMatch(/encoding=|charset/i);
    const feed = parseFeed(bytes, { baseUrl: 'https://feeds.example.test/' });
    expect(feed.entries[0]!.summary).toMatch(new RegExp(`^${start}`));
  });

  it('reads a legacy encoding mislabelled UTF-8 by its bytes', () => {
    const bytes = readFileSync(new URL('../fixtures/encodings/euc-kr.rss', import.meta.url));
    const declared = Buffer.concat([Buffer.from('<?xml version="1.0" encoding="utf-8"?>\n'), bytes]);
    expect(parseFeed(declared, { baseUrl: 'https://feeds.example.test/' }).entries[0]!.summary).toMatch(/^오늘은 아침부터/);
    const labelled = parseFeed(bytes, { baseUrl: 'https://feeds.example.test/', contentType: "application/rss+xml; charset='utf-8'" });
    expect(labelled.entries[0]!.summary).toMatch(/^오늘은 아침부터/);
  });

  it('keeps undeclared Latin text windows-1252, not a guessed Latin variant', () => {
    const body = Buffer.concat([
      Buffer.from('<rss version="2.0"><channel><title>t</title><item><guid>1</guid><title>'),
      Buffer.from('Caf\xe9 cr\xe8me br\xfbl\xe9e, na\xefve r\xe9sum\xe9 \x93entre guillemets\x94 \x80 5', 'latin1'),
      Buffer.from('</title></item></channel></rss>'),
    ]);
    expect(parseFeed(body, { baseUrl: 'https://feeds.example.test/' }).entries[0]!.title).toBe(
      'Café crème brûlée, naïve résumé “entre guillemets” € 5',
    );
  });

  it("takes a single-quoted Content-Type charset (charset='gb2312') over the declaration", () => {
    const bytes = readFileSync(new URL('../fixtures/encodings/gb18030.rss', import.meta.url));
    const declared = Buffer.concat([Buffer.from('<?xml version="1.0" encoding="iso-8859-1"?>\n'), bytes]);
    const feed = parseFeed(declared, { baseUrl: 'https://feeds.example.test/', contentType: "application/rss+xml; charset='gb2312'" });
    expect(feed.entries[0]!.summary).toMatch(/^今天早上我们全家去公园散步/);
  });

  // Latin-1 and windows-1252 bytes behind a server's blanket charset=utf-8: decoded as UTF-8, every
  // accented letter became U+FFFD. Universal Feed Parser reads all three right.
  const latin = (text: string) => Buffer.from(text, 'latin1');
  const rssOf = (declaration: string, title: Buffer) =>
    Buffer.concat([
      latin(`${declaration}<rss version="2.0"><channel><title>t</title><item><guid>1</guid><title>`),
      title,
      latin('</title></item></channel></rss>'),
    ]);
  it.each([
    ['declared ISO-8859-1', '<?xml version="1.0" encoding="ISO-8859-1"?>', latin('Cr\xe8me br\xfbl\xe9e'), 'Crème brûlée'],
    ['declared windows-1252', '<?xml version="1.0" encoding="windows-1252"?>', latin('\x93Cr\xe8me\x94 \x80'), '“Crème” €'],
    ['undeclared', '', latin('\x93Cr\xe8me\x94 \x80'), '“Crème” €'],
  ])('reads %s Latin bytes served as charset=utf-8', (_case, declaration, title, expected) => {
    const feed = parseFeed(rssOf(declaration, title), {
      baseUrl: 'https://feeds.example.test/',
      contentType: 'application/rss+xml; charset=utf-8',
    });
    expect(feed.entries[0]!.title).toBe(expected);
  });

  // Also after 70 KB of ASCII, and under a declaration that says otherwise (found by the review of c4185fa).
  it.each([
    ['', ''],
    ['', 'x'.repeat(70_000)],
    ['<?xml version="1.0" encoding="ISO-8859-1"?>', ''],
  ])('keeps UTF-8 with one stray byte UTF-8, the stray one U+FFFD (declaration %j, ASCII head of %#)', (declaration, head) => {
    const body = rssOf(declaration, Buffer.concat([Buffer.from(`${head}Crème `), Buffer.from([0xe9]), Buffer.from(' brûlée')]));
    const title = parseFeed(body, { baseUrl: 'https://feeds.example.test/', contentType: 'application/rss+xml; charset=utf-8' }).entries[0]!
      .title;
    expect(title).toBe(`${head}Crème \ufffd brûlée`);
  });

  it('does not throw on invalid UTF-8, declared or not', () => {
    const invalid = Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0xe9, 0x80]);
    const declared = Buffer.concat([
      Buffer.from('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>bad '),
      invalid,
      Buffer.from('</title></channel></rss>'),
    ]);
    // Bytes with no UTF-8 sequence in them are read as windows-1252 (below): garbage either way.
    expect(parseFeed(declared, { baseUrl: 'https://feeds.example.test/' }).title).toMatch(/^bad /);
    const undeclared = Buffer.concat([
      Buffer.from('<rss version="2.0"><channel><title>bad '),
      invalid,
      Buffer.from('</title></channel></rss>'),
    ]);
    expect(parseFeed(undeclared, { baseUrl: 'https://feeds.example.test/' }).title).toMatch(/^bad /);
    expectNotAFeed(invalid);
  });
});

describe('hostile HTML in a feed', () => {
  it('leaves no script, handler, javascript: URL or frame in any field', () => {
    const feed = parseFeed(readFixture('hostile-html.rss'), { baseUrl: 'https://hostile.example.org/feed.xml' });
    const serialised = JSON.stringify(feed);
    expect(serialised).not.toMatch(/<script/i);
    expect(serialised).not.toMatch(/\son\w+\s*=/i);
    expect(serialised).not.toMatch(/javascript:|vbscript:|data:/i);
    expect(serialised).not.toMatch(/<(iframe|object|embed|svg|math|form|style|meta|base)\b/i);
    expect(serialised).not.toMatch(/style=/i);
    expect(feed.link).toBeUndefined();
    expect(feed.entries[0]!.link).toBeUndefined();
    expect(feed.entries[0]!.title).toBe('Hello world');
    expect(feed.entries[0]!.content).toContain('<strong>bold</strong>');
    expect(feed.entries[0]!.content).toContain('<a href="https://safe.example.org/page" rel="noopener noreferrer nofollow">safe link</a>');
    expect(feed.entries[0]!.content).toContain('<img src="https://hostile.example.org/images/ok.png" alt="relative ok" />');
    expect(feed.entries[0]!.content).toContain('<td colspan="2">cell</td>');
  });
});

describe('entity attacks and other non-feeds', () => {
  let probe: Server;
  let probeRequests = 0;
  let probeUrl = '';

  beforeAll(async () => {
    probe = createServer((_request, response) => {
      probeRequests++;
      response.end('<!ENTITY leaked "PROBE-CONTENT">');
    });
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    probeUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  it('refuses billion laughs without expanding it', { timeout: 5000 }, () => {
    const message = expectNotAFeed(readFixture('billion-laughs.xml'));
    expect(message).toBe('Not a feed: the document type declares entities');
    expect(message).not.toContain('lol');
  });

  it('refuses a quadratic blowup', { timeout: 5000 }, () => {
    const body = `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "${'a'.repeat(50_000)}">]><rss version="2.0"><channel><title>${'&a;'.repeat(50_000)}</title></channel></rss>`;
    expectNotAFeed(body);
  });

  it('refuses XXE without reading files or fetching anything', { timeout: 5000 }, async () => {
    const fixture = readFixture('xxe.xml').toString('utf8').replaceAll('http://127.0.0.1:1', probeUrl);
    const message = expectNotAFeed(fixture);
    expect(message).not.toMatch(/root:|passwd|PROBE-CONTENT/);
    // Give a stray request time to arrive before counting.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(probeRequests).toBe(0);
  });

  it('never expands entities declared by a DOCTYPE hidden after the root element', { timeout: 5000 }, () => {
    const body = `<rss version="2.0"><channel><title>t</title><!DOCTYPE x [<!ENTITY a "AAAAAAAAAA"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c SYSTEM "file:///etc/passwd">]><item><guid>1</guid><title>&b;&c;</title></item></channel></rss>`;
    let feed: ParsedFeed | undefined;
    try {
      feed = parseFeed(body, { baseUrl: 'https://feeds.example.test/' });
    } catch (error) {
      expect((error as { code: string }).code).toBe('FP_NOT_A_FEED');
    }
    const serialised = JSON.stringify(feed ?? {});
    expect(serialised).not.toContain('AAAAAAAAAA');
    expect(serialised).not.toContain('root:');
  });

  it('refuses very deep XML without crashing, and drops absurdly deep HTML', { timeout: 20_000 }, () => {
    const depth = 200_000;
    expect(expectNotAFeed(`<rss version="2.0"><channel><title>t</title>${'<x>'.repeat(depth)}</channel></rss>`)).toBe(
      'Not a feed: the document is nested too deeply',
    );
    const deepHtml = parseFeed(
      `<rss version="2.0"><channel><title>t</title><item><guid>1</guid><description><![CDATA[${'<div>'.repeat(depth)}deep]]></description></item></channel></rss>`,
      { baseUrl: 'https://feeds.example.test/' },
    );
    expect(deepHtml.entries[0]!.summary).toBeUndefined();
    const deepJson = `{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[{"id":"1","x":${'['.repeat(depth)}${']'.repeat(depth)}}]}`;
    expect(parseFeed(deepJson, { baseUrl: 'https://feeds.example.test/' }).entries).toHaveLength(1);
  });

  it.each([
    ['an HTML page', readFixture('not-a-feed.html'), 'Not a feed: an HTML page'],
    ['a page with feed links', readFixture('page-with-alternate.html'), 'Not a feed: an HTML page'],
    ['an empty body', Buffer.alloc(0), 'Not a feed: the document is empty'],
    ['whitespace', '  \n\t ', 'Not a feed: the document is empty'],
    ['binary garbage', Buffer.from([0x00, 0x01, 0x89, 0x50, 0x4e, 0x47]), 'Not a feed: neither XML nor JSON'],
    ['plain text', 'HTTP 200 OK, all good', 'Not a feed: neither XML nor JSON'],
    ['JSON that is not a JSON Feed', '{"data":[{"id":1}]}', 'Not a feed: JSON document is not a JSON Feed'],
    ['a JSON array', '[{"title":"x"}]', 'Not a feed: JSON document is not a JSON Feed'],
    ['truncated JSON', '{"version":"https://jsonfeed.org/version/1.1","title":', 'Not a feed: invalid JSON'],
    ['truncated XML', '<rss version="2.0"><channel><title>x</title><item><title>a', 'Not a feed: malformed XML'],
    [
      'another XML vocabulary',
      '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
      'Not a feed: unexpected root element <svg>',
    ],
    [
      'an XML sitemap',
      '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://a/</loc></url></urlset>',
      'Not a feed: unexpected root element <urlset>',
    ],
  ])('refuses %s with a short safe reason', (_label, body, message) => {
    expect(expectNotAFeed(body, `https://feeds.example.test/feed?token=${NETFLIX_SECRET}`)).toBe(message);
  });
});

describe('RSS items with no guid', () => {
  const feed = parseFeed(readFixture('guidless-episodes.rss'), { baseUrl: 'https://briefing.example/feed.rss' });

  it('are told apart by their first enclosure when nothing else tells them apart', () => {
    const ids = feed.entries.map((entry) => entry.id);
    expect(new Set(ids).size).toBe(3);
    expect(feed.entries.map((entry) => entry.enclosures[0]?.url)).toEqual([
      'https://cdn.briefing.example/2026-12-07-pm.mp3',
      'https://cdn.briefing.example/2026-12-07-am.mp3',
      'https://cdn.briefing.example/2026-12-06.mp3',
    ]);
  });

  it('keep the id they had when something else tells them apart (no id churns)', () => {
    // The hash of the raw title, date and description, as before enclosures counted (normalise.ts stableId).
    const id = `urn:feedproxy:sha256:${createHash('sha256')
      .update(JSON.stringify(['Daily briefing', 'Sun, 06 Dec 2026 00:00:00 GMT', '']))
      .digest('hex')}`;
    expect(feed.entries[2]?.id).toBe(id);
  });
});
