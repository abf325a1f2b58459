// The rules of classify.ts fire only when the output is what the rule says it is: an output that
// lost the text, the title or the entry is a loss, never "the reference's own reading".
import { describe, expect, it } from 'vitest';
import { classifyDifference, type ClassifyCase } from './classify.js';
import { pairEntries, type ReadEntry } from './differential.js';

const entry = (fields: Partial<ReadEntry> = {}): ReadEntry => ({
  id: null,
  title: 'T',
  link: 'https://a.example/1',
  linkIsId: false,
  dates: [],
  rawDates: [],
  authors: [],
  enclosures: [],
  text: 'Some real paragraph text of the entry',
  ...fields,
});
const lost = entry({ title: null, text: null, link: null });

const subject = (fields: Partial<ClassifyCase>): ClassifyCase => ({
  field: 'text',
  format: 'atom',
  version: 'rss20',
  entries: [],
  entry: entry(),
  copy: lost,
  body: '<rss/>',
  ...fields,
});

describe('classified differences need the output to be what the rule says', () => {
  it('undeclared non-UTF-8 bytes: the copy is the windows-1252 reading, not anything', () => {
    const body = '<rss><channel><item><title>caf\xe9 cr\xe8me br\xfbl\xe9e</title></item></channel></rss>';
    const reference = entry({ title: 'cafщ crшme brћlщe' });
    expect(classifyDifference(subject({ field: 'titles', body, entry: reference, copy: lost }))).toBeUndefined();
    expect(classifyDifference(subject({ field: 'titles', body, entry: reference, copy: entry({ title: 'unrelated é' }) }))).toBeUndefined();
    expect(classifyDifference(subject({ field: 'titles', body, entry: reference, copy: entry({ title: 'café crème brûlée' }) }))).toMatch(
      /windows-1252/,
    );
  });

  it('comment or CDATA remnants: the copy is the reference text without them', () => {
    const reference = entry({ text: 'Use A <!-- a note --> then C ]]>' });
    expect(classifyDifference(subject({ entry: entry({ text: 'Use A --> B then C' }) }))).toBeUndefined();
    expect(classifyDifference(subject({ entry: reference, copy: entry({ text: 'Use A' }) }))).toBeUndefined();
    expect(classifyDifference(subject({ entry: reference, copy: entry({ text: 'Use A then C' }) }))).toMatch(/no browser shows/);
  });

  it('itunes:summary: the same item has a <description> and the copy is it', () => {
    const summary = '<itunes:summary>Some real paragraph text of the entry</itunes:summary>';
    const elsewhere = `<rss><channel><description>show</description><item>${summary}</item></channel></rss>`;
    expect(classifyDifference(subject({ body: elsewhere }))).toBeUndefined();
    const both = `<rss><channel><item><description>The episode</description>${summary}</item></channel></rss>`;
    expect(classifyDifference(subject({ body: both }))).toBeUndefined();
    expect(classifyDifference(subject({ body: both, copy: entry({ text: 'The episode' }) }))).toMatch(/itunes:summary/);
  });

  it('an Atom link written as text: in the same entry, naming the reference’s link', () => {
    const bare = entry({ title: null, text: null });
    const elsewhere = '<feed><link>https://x.example/</link><entry/></feed>';
    expect(
      classifyDifference(subject({ field: 'entries', version: 'atom10', entry: entry(), copy: undefined, body: elsewhere })),
    ).toBeUndefined();
    expect(
      classifyDifference(subject({ field: 'entries', version: 'atom10', entry: bare, copy: undefined, body: elsewhere })),
    ).toBeUndefined();
    const inEntry = '<feed><entry><link>https://a.example/1</link></entry></feed>';
    expect(
      classifyDifference(subject({ field: 'entries', version: 'atom10', entry: entry(), copy: undefined, body: inEntry })),
    ).toBeUndefined();
    expect(classifyDifference(subject({ field: 'entries', version: 'atom10', entry: bare, copy: undefined, body: inEntry }))).toMatch(
      /href is required/,
    );
    expect(classifyDifference(subject({ field: 'links', version: 'atom10', copy: entry({ link: null }), body: inEntry }))).toMatch(/href/);
  });

  it('an <og> block: in the entry’s item, and the copy is the item’s own description', () => {
    const body =
      '<rss><channel><item><description>The own text</description><og><description>Some real paragraph text of the entry</description></og></item></channel></rss>';
    expect(classifyDifference(subject({ body }))).toBeUndefined();
    expect(
      classifyDifference(
        subject({ body: '<rss><item><og><description>Other</description></og></item></rss>', copy: entry({ text: 'x' }) }),
      ),
    ).toBeUndefined();
    expect(classifyDifference(subject({ body, copy: entry({ text: 'The own text' }) }))).toMatch(/<og>/);
  });

  it('two <updated>: in the entry, the reference has the last and the copy the first', () => {
    const body = '<feed><entry><updated>2020-01-01T00:00:00Z</updated><updated>2021-01-01T00:00:00Z</updated></entry></feed>';
    const reference = entry({ rawDates: ['2021-01-01T00:00:00Z'], dates: [1609459200] });
    expect(
      classifyDifference(subject({ field: 'dates', version: 'atom10', body, entry: reference, copy: entry({ dates: [] }) })),
    ).toBeUndefined();
    expect(
      classifyDifference(subject({ field: 'dates', version: 'atom10', body, entry: reference, copy: entry({ dates: [1577836800] }) })),
    ).toMatch(/two <updated>/);
  });

  it('a media:title in an enclosure: the copy has the item’s own title', () => {
    const body =
      '<rss><channel><item><title>Episode 1</title><enclosure url="u"><media:title>Clip</media:title></enclosure></item></channel></rss>';
    const reference = entry({ title: 'Clip' });
    expect(classifyDifference(subject({ field: 'titles', body, entry: reference }))).toBeUndefined();
    expect(classifyDifference(subject({ field: 'titles', body, entry: reference, copy: entry({ title: 'Episode 1' }) }))).toMatch(
      /media:title/,
    );
  });

  it('a media:title in an enclosure of an item with no title: the copy has none', () => {
    const reference = entry({ title: 'Clip' });
    const body =
      '<rss><channel><item><enclosure url="u"><media:title><![CDATA[ <p>Clip</p> ]]></media:title></enclosure></item></channel></rss>';
    expect(classifyDifference(subject({ field: 'titles', body, entry: reference, copy: undefined }))).toBeUndefined();
    expect(classifyDifference(subject({ field: 'titles', body, entry: reference, copy: entry({ title: 'Other' }) }))).toBeUndefined();
    expect(classifyDifference(subject({ field: 'titles', body, entry: reference, copy: entry({ title: null }) }))).toMatch(/media:title/);
  });

  it('HTML around an RSS author’s name: the copy names the person by its text, nothing else', () => {
    const reference = entry({ authors: ['<p>Item Author</p>'] });
    const classify = (copyAuthors: string[]) =>
      classifyDifference(subject({ field: 'authors', entry: reference, copy: entry({ authors: copyAuthors }) }));
    expect(classify([])).toBeUndefined();
    expect(classify(['p Item Author'])).toBeUndefined();
    expect(classify(['Someone Else'])).toBeUndefined();
    expect(classify(['Item Author'])).toMatch(/HTML around the name/);
    // Escaped twice over (CDATA around escaped markup), the same.
    expect(
      classifyDifference(
        subject({
          field: 'authors',
          entry: entry({ authors: ['&lt;p&gt;Item Author&lt;/p&gt;'] }),
          copy: entry({ authors: ['Item Author'] }),
        }),
      ),
    ).toMatch(/HTML around the name/);
    // A name with no markup is no case for the rule.
    expect(
      classifyDifference(
        subject({ field: 'authors', entry: entry({ authors: ['Item Author'] }), copy: entry({ authors: ['Item Author'] }) }),
      ),
    ).toBeUndefined();
  });

  it('an image in a category: the copy has the item’s own title', () => {
    const body =
      '<rss><channel><item><title>Story</title><category>c<image><title>Logo</title><link>https://l.example/</link></image></category></item></channel></rss>';
    const reference = entry({ title: 'Logo', link: 'https://l.example/' });
    expect(classifyDifference(subject({ field: 'titles', body, entry: reference }))).toBeUndefined();
    expect(classifyDifference(subject({ field: 'titles', body, entry: reference, copy: entry({ title: 'Story' }) }))).toMatch(/<category>/);
  });
});

describe('classified differences where the item has nothing of its own', () => {
  it('an image in a category of an item with no title: a copy must exist', () => {
    const body = '<rss><channel><item><category>c<image><title><![CDATA[Logo]]></title></image></category></item></channel></rss>';
    const reference = entry({ title: 'Logo' });
    expect(classifyDifference(subject({ field: 'titles', body, entry: reference, copy: undefined }))).toBeUndefined();
    expect(classifyDifference(subject({ field: 'titles', body, entry: reference, copy: entry({ title: 'Other' }) }))).toBeUndefined();
    expect(classifyDifference(subject({ field: 'titles', body, entry: reference, copy: entry({ title: 'Untitled' }) }))).toMatch(
      /<category>/,
    );
  });

  it('a bogus comment (`<!` with no end): the copy has nothing of it, or the rest', () => {
    const reference = entry({ text: "<!' x" });
    expect(classifyDifference(subject({ entry: reference, copy: entry({ text: null }) }))).toMatch(/no browser shows/);
    expect(classifyDifference(subject({ entry: entry({ text: 'Kept <! gone' }), copy: entry({ text: null }) }))).toBeUndefined();
  });

  it('an Atom entry of text links only, its enclosure one of them', () => {
    const body = '<feed><entry><link rel="enclosure">https://a.example/1</link></entry></feed>';
    const bare = entry({ title: null, text: null, enclosures: [{ url: 'https://a.example/1', type: null, length: null }] });
    expect(classifyDifference(subject({ field: 'entries', version: 'atom10', entry: bare, copy: undefined, body }))).toMatch(
      /href is required/,
    );
    const other = entry({ title: null, text: null, enclosures: [{ url: 'https://b.example/', type: null, length: null }] });
    expect(classifyDifference(subject({ field: 'entries', version: 'atom10', entry: other, copy: undefined, body }))).toBeUndefined();
  });
});

describe('pairing entries', () => {
  it('a lost entry is not paired with another by its author or by position', () => {
    const original = [
      entry({ title: 'One', link: 'https://a.example/1', authors: ['Ann'] }),
      entry({ title: 'Two', link: 'https://a.example/2', authors: ['Ann'] }),
    ];
    const output = [entry({ title: 'One', link: 'https://a.example/1', authors: ['Ann'] })];
    expect(pairEntries(original, output)).toEqual([output[0], undefined]);
    expect(
      pairEntries(original.slice(1), [entry({ title: 'Other', link: 'https://b.example/', authors: ['Ann'], text: 'Other text' })]),
    ).toEqual([undefined]);
  });

  it('entries with nothing but an id pair by position when the counts agree', () => {
    const original = [entry({ title: null, link: 'tag:x,1', linkIsId: true, text: null })];
    const output = [entry({ title: null, link: 'https://p.example/1', text: null })];
    expect(pairEntries(original, output)).toEqual([output[0]]);
    // RSS publishes an entry with neither title nor description as "Untitled".
    const rss = [entry({ title: 'Untitled', link: 'https://p.example/1', text: null })];
    expect(pairEntries(original, rss)).toEqual([rss[0]]);
    expect(pairEntries(original, [entry({ title: 'Another story', text: null })])).toEqual([undefined]);
  });
});
