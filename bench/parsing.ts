// Bench 3 — parsing MB/s on one corpus: our parseFeed (parse + normalise + sanitise + secret
// redaction) against feedsmith alone (what parseFeed builds on) and rss-parser alone (the library
// feedsmith replaced; it reads no JSON Feed, so it is compared on the XML part of the corpus).
// The corpus: test/fixtures/feeds (the real-world shapes, hostile ones excluded) plus generated
// RSS/Atom/RDF/JSON documents from a few KB to 5 MB.
import { parseFeed as parseWithFeedsmith } from 'feedsmith';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Parser from 'rss-parser';
import { parseFeed } from '../src/parse/index.js';
import { benchResult, ROOT_DIR, measure, printTable, type BenchResult, type RunOptions, type Table } from './lib/common.js';
import { generateFeed, type CorpusFormat } from './lib/corpus.js';

interface Document {
  name: string;
  format: CorpusFormat;
  text: string;
  bytes: number;
}

// Fixtures every parser must refuse (a cut-off transfer among them): not part of a throughput corpus.
const NOT_FEEDS = new Set(['billion-laughs.xml', 'xxe.xml', 'not-a-feed.html', 'page-with-alternate.html', 'rss-cut-off.rss']);
const BASE_URL = 'https://upstream.example.com/feed?feed_token=bench-secret-token';

function formatOfFixture(name: string, text: string): CorpusFormat {
  if (name.endsWith('.json')) return 'json';
  if (/<rdf:RDF/.test(text)) return 'rdf';
  if (/<feed[\s>]/.test(text)) return 'atom';
  return 'rss';
}

export function buildCorpus(quick: boolean): Document[] {
  const fixtures = join(ROOT_DIR, 'test/fixtures/feeds');
  const documents: Document[] = readdirSync(fixtures)
    .filter((name) => !NOT_FEEDS.has(name))
    .map((name) => {
      const raw = readFileSync(join(fixtures, name));
      const text = name === 'latin1.rss' ? raw.toString('latin1') : raw.toString('utf8');
      return { name, format: formatOfFixture(name, text), text, bytes: raw.length };
    });
  // Small (a status feed), medium (a blog), large (full-text archive), huge (a podcast's whole history).
  const sizes: Array<{ entries: number; bodyBytes: number }> = quick
    ? [
        { entries: 10, bodyBytes: 300 },
        { entries: 50, bodyBytes: 1500 },
        { entries: 400, bodyBytes: 3000 },
      ]
    : [
        { entries: 10, bodyBytes: 300 },
        { entries: 50, bodyBytes: 1500 },
        { entries: 200, bodyBytes: 3000 },
        { entries: 1600, bodyBytes: 3000 },
      ];
  for (const format of ['rss', 'atom', 'rdf', 'json'] as const) {
    for (const size of sizes) {
      const text = generateFeed({ format, ...size, name: `${format}${size.entries}` });
      documents.push({ name: `${format}-${size.entries}x${size.bodyBytes}`, format, text, bytes: Buffer.byteLength(text) });
    }
  }
  return documents;
}

/** Runs `parse` over the documents until `minMs` have passed (at least twice); MB/s of the best round. */
async function throughput(
  documents: Document[],
  parse: (document: Document) => unknown,
  minMs: number,
): Promise<{ mbPerSecond: number; cpuMsPerMb: number }> {
  const bytes = documents.reduce((total, document) => total + document.bytes, 0);
  let best = Infinity;
  let bestCpu = Infinity;
  let spent = 0;
  for (let round = 0; round < 2 || spent < minMs; round++) {
    const { wallMs, cpuMs } = await measure(async () => {
      for (const document of documents) await parse(document);
    });
    spent += wallMs;
    if (wallMs < best) [best, bestCpu] = [wallMs, cpuMs];
  }
  return { mbPerSecond: bytes / 2 ** 20 / (best / 1000), cpuMsPerMb: bestCpu / (bytes / 2 ** 20) };
}

export async function runParsingBench(options: RunOptions): Promise<BenchResult> {
  const startedAt = new Date();
  const corpus = buildCorpus(options.quick);
  const xml = corpus.filter((document) => document.format !== 'json');
  const minMs = options.quick ? 400 : 6000;
  const rssParser = new Parser();

  const ours = (document: Document) => parseFeed(document.text, { baseUrl: BASE_URL });
  const feedsmith = (document: Document) => parseWithFeedsmith(document.text);
  const rss = (document: Document) => rssParser.parseString(document.text);

  // Every document must parse with every library that claims it, or the comparison means nothing.
  for (const document of corpus) ours(document);
  for (const document of corpus) feedsmith(document);
  for (const document of xml) await rss(document);

  const rows: Array<Array<string | number>> = [];
  const figures: Record<string, number> = {};
  for (const [label, documents] of [
    ['all formats', corpus],
    ['RSS/Atom/RDF only', xml],
  ] as const) {
    const feedsmithResult = await throughput(documents, feedsmith, minMs);
    const oursResult = await throughput(documents, ours, minMs);
    const rssResult = label === 'all formats' ? undefined : await throughput(documents, rss, minMs);
    const mb = documents.reduce((total, document) => total + document.bytes, 0) / 2 ** 20;
    rows.push([label, `${documents.length} docs, ${mb.toFixed(1)} MB`, 'feedsmith alone', feedsmithResult.mbPerSecond, '1.00 (baseline)']);
    if (rssResult)
      rows.push([label, '', 'rss-parser alone', rssResult.mbPerSecond, (rssResult.mbPerSecond / feedsmithResult.mbPerSecond).toFixed(2)]);
    rows.push([
      label,
      '',
      'our parseFeed (+ normalise, sanitise)',
      oursResult.mbPerSecond,
      (oursResult.mbPerSecond / feedsmithResult.mbPerSecond).toFixed(2),
    ]);
    const key = label === 'all formats' ? 'all' : 'xml';
    figures[`${key}|feedsmith`] = feedsmithResult.mbPerSecond;
    figures[`${key}|ours`] = oursResult.mbPerSecond;
    if (rssResult) figures[`${key}|rss-parser`] = rssResult.mbPerSecond;
  }
  // Where the time of parseFeed goes, per format, on the generated medium documents.
  const perFormat: Table = {
    title: 'Parsing by format (generated documents of that format), MB/s',
    columns: ['format', 'MB', 'feedsmith', 'rss-parser', 'parseFeed', 'parseFeed ÷ feedsmith'],
    rows: [],
  };
  for (const format of ['rss', 'atom', 'rdf', 'json'] as const) {
    const documents = corpus.filter((document) => document.format === format && document.name.includes('x'));
    const mb = documents.reduce((total, document) => total + document.bytes, 0) / 2 ** 20;
    const feedsmithResult = await throughput(documents, feedsmith, minMs / 4);
    const oursResult = await throughput(documents, ours, minMs / 4);
    const rssResult = format === 'json' ? undefined : await throughput(documents, rss, minMs / 4);
    perFormat.rows.push([
      format,
      mb,
      feedsmithResult.mbPerSecond,
      rssResult ? rssResult.mbPerSecond : 'no JSON Feed',
      oursResult.mbPerSecond,
      (oursResult.mbPerSecond / feedsmithResult.mbPerSecond).toFixed(2),
    ]);
  }
  const table: Table = {
    title: 'Parsing throughput, MB/s (best round; same process, same documents)',
    columns: ['corpus', 'size', 'parser', 'MB/s', '÷ feedsmith'],
    rows,
    notes: [
      `largest document ${(Math.max(...corpus.map((document) => document.bytes)) / 2 ** 20).toFixed(1)} MB; fixtures from test/fixtures/feeds plus generated RSS/Atom/RDF/JSON`,
      'parseFeed also sanitises every HTML field (sanitize-html), resolves URLs and redacts the source URL secrets: the gap to feedsmith is that work',
    ],
  };
  printTable(table);
  printTable(perFormat);
  return benchResult('parsing', options, startedAt, [table, perFormat], figures);
}
