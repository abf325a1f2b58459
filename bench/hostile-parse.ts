// How reading a hostile document grows with its size: each construct a feed's owner can repeat
// (unclosed comments, instructions, CDATA sections, tags and quotes; ` mode="base64"`; unclosed
// brackets in an author; HTML whose close tags match nothing) is repeated to S and to 4·S
// characters, in each place a document can hold it (raw in the channel, in an item, in escaped and
// CDATA HTML, in Atom text, in an author, in a title before one unmatched quote, after the root of a
// malformed document), and parseFeed is timed on both. Linear reading takes
// about 4× as long at 4·S; a row marked QUADRATIC took more than 8× (and over 50 ms).
//   npx tsx bench/hostile-parse.ts [S=20000] [filter]     prints the slowest rows, then the flagged ones
import { parseFeed } from '../src/parse/index.js';

const size = Number(process.argv[2] ?? 20_000);
const filter = process.argv[3];
const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const rss = (body: string) =>
  `<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://example.com/</link><item><title>a</title><guid>g1</guid><description>x</description></item>${body}</channel></rss>`;
const atom = (body: string) =>
  `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x</id><updated>2020-01-01T00:00:00Z</updated><entry><id>urn:e</id><title>a</title><updated>2020-01-01T00:00:00Z</updated></entry>${body}</feed>`;
const rdf = (body: string) =>
  `<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>t</title><link>http://example.com</link></channel><item rdf:about="a"><title>a</title><link>http://example.com/a</link></item>${body}</rdf:RDF>`;
const entry = (inner: string) => `<entry><id>urn:f</id>${inner}<updated>2020-01-01T00:00:00Z</updated></entry>`;

const UNITS: Record<string, string> = {
  comment: '<!--',
  cdata: '<![CDATA[',
  pi: '<?x ',
  bang: '<!x',
  lt: '<',
  tagattr: '<a x',
  tagquote: '<a x="',
  tagsq: "<a x='",
  close: '</a',
  item: '<item>',
  itemattr: '<item x',
  entry: '<entry>',
  title: '<title>',
  titlecdata: '<title><![CDATA[<title>]]>',
  b64: '<content mode="base64" x',
  b64mode: ' mode="base64"',
  author: '<author x',
  authortag: '<author>',
  rssns: '<x:rss ',
  body: '<body>',
  fullitem: '<fullitem x',
  dcauthor: '<dc:author ',
  amp: '&',
  entity: '&abcdef',
  nested: '<a>',
  unmatched: '<a></b>',
  selfclosing: '<div/>',
  xmlns: ' xmlns:a="',
  enclosure: '<enclosure url="',
  space: ' ',
  paren: ' (',
  email: ' (a@b ',
  bracket: '[',
  dotted: '<a.b></a>',
  quotedlt: '<b x="<">',
  authorcase: '<Author>',
  feed: '<feed ',
  mathmi: '<math><mi><a/>',
  svgselfclosing: '<svg><svg/>',
  piclosed: '<?a?>',
  commentclosed: '<!---->',
};
const PLACES: Record<string, (unit: string, count: number) => string> = {
  'rss channel': (u, n) => rss(u.repeat(n)),
  'rss item': (u, n) => rss(`<item><guid>g2</guid><description>x</description>${u.repeat(n)}</item>`),
  'rss escaped html': (u, n) => rss(`<item><guid>g2</guid><description>${escapeXml(u).repeat(n)}</description></item>`),
  'rss cdata html': (u, n) => rss(`<item><guid>g2</guid><description><![CDATA[${u.replace(/]]>/g, '').repeat(n)}]]></description></item>`),
  'rss author': (u, n) => rss(`<item><guid>g2</guid><author>${escapeXml(u).repeat(n)}</author></item>`),
  'atom feed': (u, n) => atom(u.repeat(n)),
  'atom html': (u, n) =>
    atom(entry(`<title type="html">${escapeXml(u).repeat(n)}</title><content type="html">${escapeXml(u).repeat(n)}</content>`)),
  'atom xhtml': (u, n) =>
    atom(entry(`<title>t</title><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">${u.repeat(n)}</div></content>`)),
  'atom text': (u, n) => atom(entry(`<title>${u.repeat(n)}</title>`)),
  'atom author': (u, n) => atom(entry(`<title>t</title><author><name>${escapeXml(u).repeat(n)}</name></author>`)),
  rdf: (u, n) => rdf(u.repeat(n)),
  'rss dc:creator': (u, n) =>
    rss(`<item><guid>g2</guid><dc:creator xmlns:dc="http://purl.org/dc/elements/1.1/">a${escapeXml(u).repeat(n)}b</dc:creator></item>`),
  'html page': (u, n) => `<!DOCTYPE html><html><body>${u.repeat(n)}</body></html>`,
  // Raw in an element the parser reads raw, then one quote that every later `>` falls inside.
  'rss title, a quote': (u, n) => rss(`<item><guid>g2</guid><title>${u.repeat(n)}"</title></item>`),
  'atom text, a quote': (u, n) => atom(entry(`<title>${u.repeat(n)}'</title>`)),
  // After the root, then text: a malformed document whose tail is read to tell whether it was cut off.
  'after the root': (u, n) => `${rss('<item><title>x</titl e></item>')}${u.repeat(n)}x`,
};

function millisecondsToRead(document: string): number {
  const start = process.hrtime.bigint();
  try {
    parseFeed(document, { baseUrl: 'http://example.com/feed?feed_token=secret' });
  } catch {
    // A refusal is a reading too: what is timed is how long it took.
  }
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const rows: Array<{ name: string; small: number; large: number }> = [];
for (const [place, build] of Object.entries(PLACES)) {
  for (const [unitName, unit] of Object.entries(UNITS)) {
    const name = `${place} / ${unitName}`;
    if (filter !== undefined && !name.includes(filter)) continue;
    const count = Math.max(1, Math.floor(size / unit.length));
    const small = millisecondsToRead(build(unit, count));
    // Past 2 s at S the 4·S reading could take hours: the row is flagged without it.
    const large = small > 2000 ? Number.POSITIVE_INFINITY : millisecondsToRead(build(unit, 4 * count));
    rows.push({ name, small, large });
  }
}
const quadratic = rows.filter((row) => row.large > 50 && row.large / Math.max(row.small, 1) > 8);
const show = (row: (typeof rows)[number]) =>
  `${row.name.padEnd(34)} ${row.small.toFixed(1).padStart(8)} ms → ${row.large.toFixed(1).padStart(9)} ms  ×${(row.large / Math.max(row.small, 1)).toFixed(1)}`;
console.log(`S = ${size} characters, ${rows.length} documents; slowest at 4·S:`);
for (const row of [...rows].sort((a, b) => b.large - a.large).slice(0, 8)) console.log(show(row));
console.log(quadratic.length === 0 ? 'none grows faster than linearly' : `QUADRATIC (×>8 at 4·S):`);
for (const row of quadratic) console.log(show(row));
